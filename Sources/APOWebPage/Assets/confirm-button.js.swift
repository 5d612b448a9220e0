extension WebPage {
    /// `/assets/confirm-button.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let confirmButtonJS = #"""
// A button for something that cannot be undone (cancelling hours of training): the first click
// arms it ("Click again to cancel"), a second click within a few seconds does it. No modal
// dialog, so nothing blocks the page's live updates.
import { el } from './dom.js';

export function confirmButton(attributes, label, armedLabel, action) {
  let armedUntil = 0;
  const button = el('button', { type: 'button', ...attributes }, label);
  button.addEventListener('click', () => {
    if (Date.now() < armedUntil) {
      armedUntil = 0;
      button.textContent = label;
      button.classList.remove('armed');
      action();
      return;
    }
    armedUntil = Date.now() + 4000;
    button.textContent = armedLabel;
    button.classList.add('armed');
    setTimeout(() => {
      if (Date.now() >= armedUntil) {
        button.textContent = label;
        button.classList.remove('armed');
      }
    }, 4100);
  });
  return button;
}
"""#
}
