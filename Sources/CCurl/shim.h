// libcurl for apoctl's HTTP client. curl_easy_setopt and curl_easy_getinfo are variadic, which
// Swift cannot call: these typed wrappers are the only calls apoctl makes through them.
#include <curl/curl.h>

typedef size_t (*apo_curl_data_callback)(char *data, size_t size, size_t count, void *user);

static inline CURLcode apo_curl_set_long(CURL *h, CURLoption option, long value) { return curl_easy_setopt(h, option, value); }
static inline CURLcode apo_curl_set_string(CURL *h, CURLoption option, const char *value) { return curl_easy_setopt(h, option, value); }
static inline CURLcode apo_curl_set_pointer(CURL *h, CURLoption option, void *value) { return curl_easy_setopt(h, option, value); }
static inline CURLcode apo_curl_set_size(CURL *h, CURLoption option, curl_off_t value) { return curl_easy_setopt(h, option, value); }
static inline CURLcode apo_curl_set_callback(CURL *h, CURLoption option, apo_curl_data_callback value) { return curl_easy_setopt(h, option, value); }
static inline CURLcode apo_curl_response_code(CURL *h, long *code) { return curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code); }
