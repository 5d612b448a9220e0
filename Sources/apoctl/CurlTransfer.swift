import CCurl
import Foundation

/// One HTTP request through libcurl — the library Foundation's URLSession runs on Linux, called
/// directly so that apoctl can trust a CA of its own (`--ca-file`), which URLSession cannot be
/// told. The body arrives in pieces (`receive`), so a large download goes straight to disk.
struct CurlTransfer {
    var url: String
    var method = "GET"
    var headers: [String: String] = [:]
    var body: Data?
    var timeoutSeconds = 60
    /// PEM file of CAs to trust instead of the system's store.
    var caFile: String?

    /// Why no answer came: libcurl's own words ("SSL certificate problem: …", "Couldn't connect").
    struct Failure: Error {
        let reason: String
    }

    /// The status and headers (names lowercased; the last of a repeated one).
    func perform(receive: @escaping (Data) -> Void) throws -> (status: Int, headers: [String: String]) {
        guard let handle = curl_easy_init() else { throw Failure(reason: "libcurl could not start a transfer") }
        defer { curl_easy_cleanup(handle) }
        let state = TransferState(receive: receive)
        let user = Unmanaged.passUnretained(state).toOpaque()
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        var list: UnsafeMutablePointer<curl_slist>?
        // "Expect:" off: no 100-continue round trip before a POST body.
        for line in headers.map({ "\($0.key): \($0.value)" }) + ["Expect:"] { list = curl_slist_append(list, line) }
        defer { curl_slist_free_all(list) }
        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { buffer in
            apo_curl_set_string(handle, CURLOPT_URL, url)
            apo_curl_set_string(handle, CURLOPT_CUSTOMREQUEST, method)
            apo_curl_set_pointer(handle, CURLOPT_HTTPHEADER, list)
            apo_curl_set_long(handle, CURLOPT_TIMEOUT, timeoutSeconds)
            apo_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT, min(timeoutSeconds, 10))
            apo_curl_set_long(handle, CURLOPT_NOSIGNAL, 1)
            apo_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, buffer.baseAddress)
            if let caFile { apo_curl_set_string(handle, CURLOPT_CAINFO, caFile) }
            if let body, !body.isEmpty {
                // The size first: COPYPOSTFIELDS copies that many bytes at once.
                apo_curl_set_size(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                body.withUnsafeBytes { _ = apo_curl_set_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress)) }
            } else if method == "POST" {
                apo_curl_set_size(handle, CURLOPT_POSTFIELDSIZE_LARGE, 0)
                apo_curl_set_string(handle, CURLOPT_COPYPOSTFIELDS, "")
            }
            apo_curl_set_callback(handle, CURLOPT_WRITEFUNCTION, { data, size, count, user in
                let state = Unmanaged<TransferState>.fromOpaque(user!).takeUnretainedValue()
                state.receive(Data(bytes: data!, count: size * count))
                return size * count
            })
            apo_curl_set_pointer(handle, CURLOPT_WRITEDATA, user)
            apo_curl_set_callback(handle, CURLOPT_HEADERFUNCTION, { data, size, count, user in
                let state = Unmanaged<TransferState>.fromOpaque(user!).takeUnretainedValue()
                state.header(String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self))
                return size * count
            })
            apo_curl_set_pointer(handle, CURLOPT_HEADERDATA, user)
            return curl_easy_perform(handle)
        }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            throw Failure(reason: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
        }
        var status: CLong = 0
        apo_curl_response_code(handle, &status)
        return (Int(status), state.headers)
    }

    /// What the C callbacks reach through their user pointer.
    private final class TransferState {
        let receive: (Data) -> Void
        var headers: [String: String] = [:]

        init(receive: @escaping (Data) -> Void) { self.receive = receive }

        func header(_ line: String) {
            // A new status line (after a 100 Continue or a redirect) starts the headers over.
            if line.hasPrefix("HTTP/") { headers = [:]; return }
            guard let colon = line.firstIndex(of: ":") else { return }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
