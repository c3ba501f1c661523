// Siphon's live-capture addon: libpcap behind Node-API, in C.
//
// open() creates and activates a handle; start() watches its selectable descriptor with a libuv
// poll in the calling thread's own loop (so a worker thread captures in its own loop) and calls
// back through napi_make_callback when packets are ready; read() copies packets into a caller's
// buffer as classic pcap records (16-byte header with libpcap's own timestamp, then the bytes)
// until the next packet might not fit. Nothing is allocated per packet.
//
// libpcap is loaded at first use by its soname, libpcap.so.0.8 (Debian's name) or libpcap.so.1
// (everyone else's), so one binary serves both, needs no libpcap-dev at run time, and loads
// (to say what is missing) where libpcap is not installed at all. It is loaded with libuv's
// uv_dlopen, which Node exports, rather than glibc's dlopen: glibc 2.34 moved dlopen to a new
// symbol version, and a binary built here that called it would not load on an older glibc.
#define NAPI_VERSION 8
#include <errno.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <node_api.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

// ---- libpcap, loaded at first use ----

#define PCAP_FUNCTIONS(X)                                                          \
  X(pcap_t *, pcap_create, (const char *, char *))                                 \
  X(int, pcap_set_snaplen, (pcap_t *, int))                                        \
  X(int, pcap_set_promisc, (pcap_t *, int))                                        \
  X(int, pcap_set_timeout, (pcap_t *, int))                                        \
  X(int, pcap_set_buffer_size, (pcap_t *, int))                                    \
  X(int, pcap_set_immediate_mode, (pcap_t *, int))                                 \
  X(int, pcap_set_tstamp_precision, (pcap_t *, int))                               \
  X(int, pcap_get_tstamp_precision, (pcap_t *))                                    \
  X(int, pcap_activate, (pcap_t *))                                                \
  X(int, pcap_setnonblock, (pcap_t *, int, char *))                                \
  X(int, pcap_get_selectable_fd, (pcap_t *))                                       \
  X(int, pcap_snapshot, (pcap_t *))                                                \
  X(int, pcap_datalink, (pcap_t *))                                                \
  X(const char *, pcap_datalink_val_to_name, (int))                                \
  X(int, pcap_compile, (pcap_t *, struct bpf_program *, const char *, int, bpf_u_int32)) \
  X(int, pcap_setfilter, (pcap_t *, struct bpf_program *))                         \
  X(void, pcap_freecode, (struct bpf_program *))                                   \
  X(char *, pcap_geterr, (pcap_t *))                                               \
  X(const char *, pcap_statustostr, (int))                                         \
  X(int, pcap_dispatch, (pcap_t *, int, pcap_handler, u_char *))                   \
  X(int, pcap_stats, (pcap_t *, struct pcap_stat *))                               \
  X(void, pcap_close, (pcap_t *))                                                  \
  X(int, pcap_findalldevs, (pcap_if_t **, char *))                                 \
  X(void, pcap_freealldevs, (pcap_if_t *))                                         \
  X(const char *, pcap_lib_version, (void))

#define DECLARE_POINTER(ret, name, args) static ret(*lib_##name) args;
PCAP_FUNCTIONS(DECLARE_POINTER)

static const char *const LIBRARY_NAMES[] = {"libpcap.so.0.8", "libpcap.so.1"};
static uv_once_t library_once = UV_ONCE_INIT;
static char library_error[1024]; // empty once every function is found

static uv_lib_t library; // never closed: the functions are used until the process ends

static void load_library(void) {
  const char *loaded = NULL;
  size_t used = 0;
  for (size_t i = 0; i < sizeof LIBRARY_NAMES / sizeof *LIBRARY_NAMES && loaded == NULL; i++) {
    if (uv_dlopen(LIBRARY_NAMES[i], &library) == 0) {
      loaded = LIBRARY_NAMES[i];
    } else {
      if (used < sizeof library_error) {
        int n = snprintf(library_error + used, sizeof library_error - used, "%s%s", used ? "; " : "", uv_dlerror(&library));
        if (n > 0) used += (size_t)n;
      }
      uv_dlclose(&library); // frees the error text
    }
  }
  if (loaded == NULL) return;
#define FIND_POINTER(ret, name, args)                                                          \
  if (uv_dlsym(&library, #name, (void **)&lib_##name) != 0) {                                 \
    snprintf(library_error, sizeof library_error, "%s has no %s (libpcap 1.5 or later is needed)", \
             loaded, #name);                                           \
    return;                                                                                   \
  }
  PCAP_FUNCTIONS(FIND_POINTER)
  library_error[0] = '\0';
}

// ---- errors ----

static const char *status_name(int status) {
  switch (status) {
    case PCAP_ERROR_BREAK: return "PCAP_ERROR_BREAK";
    case PCAP_ERROR_NOT_ACTIVATED: return "PCAP_ERROR_NOT_ACTIVATED";
    case PCAP_ERROR_ACTIVATED: return "PCAP_ERROR_ACTIVATED";
    case PCAP_ERROR_NO_SUCH_DEVICE: return "PCAP_ERROR_NO_SUCH_DEVICE";
    case PCAP_ERROR_RFMON_NOTSUP: return "PCAP_ERROR_RFMON_NOTSUP";
    case PCAP_ERROR_NOT_RFMON: return "PCAP_ERROR_NOT_RFMON";
    case PCAP_ERROR_PERM_DENIED: return "PCAP_ERROR_PERM_DENIED";
    case PCAP_ERROR_IFACE_NOT_UP: return "PCAP_ERROR_IFACE_NOT_UP";
    case PCAP_ERROR_CANTSET_TSTAMP_TYPE: return "PCAP_ERROR_CANTSET_TSTAMP_TYPE";
    case PCAP_ERROR_PROMISC_PERM_DENIED: return "PCAP_ERROR_PROMISC_PERM_DENIED";
    case PCAP_ERROR_TSTAMP_PRECISION_NOTSUP: return "PCAP_ERROR_TSTAMP_PRECISION_NOTSUP";
    default: return "PCAP_ERROR";
  }
}

// Throws an Error whose `code` names libpcap's status and whose `status` is its number.
static napi_value throw_status(napi_env env, int status, const char *text) {
  napi_value code, message, error, number;
  napi_create_string_utf8(env, status_name(status), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, status, &number);
  napi_set_named_property(env, error, "status", number);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_code(napi_env env, const char *code, const char *text) {
  napi_throw_error(env, code, text);
  return NULL;
}

// The text libpcap gives for a failed call: its error buffer, or the status's own words.
static const char *pcap_text(pcap_t *pcap, int status) {
  const char *text = pcap ? lib_pcap_geterr(pcap) : NULL;
  return text && text[0] ? text : lib_pcap_statustostr(status);
}

static int library_ready(napi_env env) {
  uv_once(&library_once, load_library);
  if (library_error[0] == '\0') return 1;
  throw_code(env, "PCAP_LIBRARY_MISSING", library_error);
  return 0;
}

// ---- argument helpers ----

static napi_value undefined_value(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  for (size_t i = argc; i < want; i++) argv[i] = undefined_value(env);
  return 1;
}

static int get_string(napi_env env, napi_value value, char *out, size_t size, const char *what) {
  size_t length = 0;
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type != napi_string) return throw_code(env, "ERR_INVALID_ARG_TYPE", what), 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok || length >= size) {
    return throw_code(env, "ERR_OUT_OF_RANGE", what), 0;
  }
  napi_get_value_string_utf8(env, value, out, size, &length);
  return 1;
}

// An integer option in [min, max], or `fallback` when the property is absent or undefined.
static int get_int_option(napi_env env, napi_value options, const char *name, int64_t min, int64_t max,
                          int64_t fallback, int64_t *out) {
  napi_value value;
  napi_valuetype type;
  double number;
  char message[160];
  *out = fallback;
  if (napi_get_named_property(env, options, name, &value) != napi_ok) return 0;
  napi_typeof(env, value, &type);
  if (type == napi_undefined) return 1;
  if (type != napi_number || napi_get_value_double(env, value, &number) != napi_ok ||
      number != number || number < (double)min || number > (double)max || number != (double)(int64_t)number) {
    snprintf(message, sizeof message, "open: option %s must be an integer from %lld to %lld", name,
             (long long)min, (long long)max);
    return throw_code(env, "ERR_OUT_OF_RANGE", message), 0;
  }
  *out = (int64_t)number;
  return 1;
}

static int get_bool_option(napi_env env, napi_value options, const char *name) {
  napi_value value;
  bool flag = false;
  if (napi_get_named_property(env, options, name, &value) == napi_ok) napi_get_value_bool(env, value, &flag);
  return flag;
}

// ---- the capture handle ----

typedef struct {
  napi_env env;
  pcap_t *pcap;
  int snapshot;          // libpcap's snap length for this handle: no record is longer
  uv_poll_t poll;
  int poll_open;         // uv_poll_init done, uv_close not yet called back
  int closing;
  int references;        // the JS handle object, and a close under way
  napi_ref callback;
  napi_async_context async;
  napi_async_cleanup_hook_handle cleanup;
  uint32_t cut;          // records shortened because libpcap claimed more than the snap length
} Capture;

static const napi_type_tag CAPTURE_TAG = {0x5170686f6e706361ULL, 0x7031316164646f6eULL};

static void release(Capture *c) {
  if (--c->references == 0) free(c);
}

static void remove_cleanup_hook(Capture *c) {
  if (c->cleanup != NULL) napi_remove_async_cleanup_hook(c->cleanup);
  c->cleanup = NULL;
}

static void on_poll_closed(uv_handle_t *handle) {
  Capture *c = handle->data;
  c->poll_open = 0;
  remove_cleanup_hook(c);
  release(c);
}

// Stops the poll, closes libpcap's handle and lets go of the callback. `teardown` is set when
// the environment is going away (a worker terminated): then no JS is touched.
static void begin_close(Capture *c, int teardown) {
  if (c->closing) return;
  c->closing = 1;
  if (!teardown && c->callback != NULL) napi_delete_reference(c->env, c->callback);
  if (!teardown && c->async != NULL) napi_async_destroy(c->env, c->async);
  c->callback = NULL;
  c->async = NULL;
  // The poll goes first: libuv must stop watching the descriptor before libpcap closes it.
  if (c->poll_open) {
    c->references++; // the poll lives inside c: held until libuv calls back
    uv_close((uv_handle_t *)&c->poll, on_poll_closed);
  } else {
    remove_cleanup_hook(c);
  }
  lib_pcap_close(c->pcap);
  c->pcap = NULL;
}

static void on_env_teardown(napi_async_cleanup_hook_handle hook, void *data) {
  Capture *c = data;
  (void)hook;
  begin_close(c, 1);
}

static void on_handle_collected(napi_env env, void *data, void *hint) {
  Capture *c = data;
  (void)env;
  (void)hint;
  begin_close(c, 1);
  release(c);
}

static Capture *get_capture(napi_env env, napi_value value) {
  bool ours = false;
  void *data = NULL;
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_external) napi_check_object_type_tag(env, value, &CAPTURE_TAG, &ours);
  if (!ours || napi_get_value_external(env, value, &data) != napi_ok) {
    throw_code(env, "ERR_INVALID_ARG_TYPE", "expected a handle from open()");
    return NULL;
  }
  Capture *c = data;
  if (c->pcap == NULL) {
    throw_code(env, "ERR_CAPTURE_CLOSED", "the capture handle is closed");
    return NULL;
  }
  return c;
}

// ---- open ----

static int configure(napi_env env, pcap_t *pcap, napi_value options) {
  int64_t snaplen, buffer, timeout;
  // 262144 is libpcap's MAXIMUM_SNAPLEN; a buffer is an int in libpcap's API.
  if (!get_int_option(env, options, "snaplen", 16, 262144, 65535, &snaplen) ||
      !get_int_option(env, options, "bufferBytes", 65536, INT_MAX, 32 << 20, &buffer) ||
      !get_int_option(env, options, "timeoutMs", 1, 60000, 10, &timeout)) {
    return 0;
  }
  lib_pcap_set_snaplen(pcap, (int)snaplen);
  lib_pcap_set_buffer_size(pcap, (int)buffer);
  lib_pcap_set_timeout(pcap, (int)timeout); // TPACKET_V3's block timeout: 0 would mean never
  lib_pcap_set_promisc(pcap, get_bool_option(env, options, "promisc"));
  lib_pcap_set_immediate_mode(pcap, get_bool_option(env, options, "immediate"));
  if (get_bool_option(env, options, "nanosecond")) {
    lib_pcap_set_tstamp_precision(pcap, PCAP_TSTAMP_PRECISION_NANO); // refused: micro stays
  }
  return 1;
}

// Linux 4.20 and later: outgoing packets never reach this socket (on lo each packet is
// otherwise queued twice, once leaving and once arriving).
static int ignore_outgoing(napi_env env, pcap_t *pcap) {
  int one = 1;
  char message[200];
  if (setsockopt(lib_pcap_get_selectable_fd(pcap), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) == 0) return 1;
  snprintf(message, sizeof message, "PACKET_IGNORE_OUTGOING: %s (needs Linux 4.20 or later)", strerror(errno));
  throw_status(env, PCAP_ERROR, message);
  return 0;
}

static napi_value describe(napi_env env, Capture *c, napi_value handle, int warning) {
  napi_value result, value;
  int dlt = lib_pcap_datalink(c->pcap);
  const char *dlt_name = lib_pcap_datalink_val_to_name(dlt);
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "handle", handle);
  napi_create_int32(env, dlt, &value);
  napi_set_named_property(env, result, "datalink", value);
  napi_create_string_utf8(env, dlt_name ? dlt_name : "", NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, result, "datalinkName", value);
  napi_create_int32(env, c->snapshot, &value);
  napi_set_named_property(env, result, "snaplen", value);
  napi_get_boolean(env, lib_pcap_get_tstamp_precision(c->pcap) == PCAP_TSTAMP_PRECISION_NANO, &value);
  napi_set_named_property(env, result, "nanosecond", value);
  if (warning > 0) {
    napi_create_string_utf8(env, pcap_text(c->pcap, warning), NAPI_AUTO_LENGTH, &value);
    napi_set_named_property(env, result, "warning", value);
  }
  return result;
}

// open(device, {snaplen, promisc, bufferBytes, timeoutMs, immediate, nanosecond, ignoreOutgoing})
static napi_value Open(napi_env env, napi_callback_info info) {
  napi_value argv[2], handle;
  char device[256], errbuf[PCAP_ERRBUF_SIZE] = "";
  if (!library_ready(env) || !get_args(env, info, 2, argv)) return NULL;
  if (!get_string(env, argv[0], device, sizeof device, "open: the device must be a name shorter than 256 bytes")) return NULL;
  napi_valuetype type;
  napi_typeof(env, argv[1], &type);
  if (type != napi_object) return throw_code(env, "ERR_INVALID_ARG_TYPE", "open: options must be an object");
  pcap_t *pcap = lib_pcap_create(device, errbuf);
  if (pcap == NULL) return throw_status(env, PCAP_ERROR, errbuf);
  if (!configure(env, pcap, argv[1])) return lib_pcap_close(pcap), NULL;
  int status = lib_pcap_activate(pcap);
  if (status < 0) {
    throw_status(env, status, pcap_text(pcap, status));
    lib_pcap_close(pcap);
    return NULL;
  }
  if (lib_pcap_setnonblock(pcap, 1, errbuf) != 0) return lib_pcap_close(pcap), throw_status(env, PCAP_ERROR, errbuf);
  if (lib_pcap_get_selectable_fd(pcap) < 0) {
    lib_pcap_close(pcap);
    return throw_status(env, PCAP_ERROR, "the device has no descriptor to poll");
  }
  if (get_bool_option(env, argv[1], "ignoreOutgoing") && !ignore_outgoing(env, pcap)) return lib_pcap_close(pcap), NULL;
  Capture *c = calloc(1, sizeof *c);
  if (c == NULL) return lib_pcap_close(pcap), throw_code(env, "ERR_MEMORY", "open: out of memory");
  c->env = env;
  c->pcap = pcap;
  c->snapshot = lib_pcap_snapshot(pcap);
  c->references = 1;
  if (napi_create_external(env, c, on_handle_collected, NULL, &handle) != napi_ok) {
    lib_pcap_close(pcap);
    free(c);
    return NULL;
  }
  napi_type_tag_object(env, handle, &CAPTURE_TAG);
  napi_add_async_cleanup_hook(env, on_env_teardown, c, &c->cleanup);
  return describe(env, c, handle, status);
}

static napi_value SetFilter(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  enum { FILTER_MAX = 65536 };
  struct bpf_program program;
  if (!get_args(env, info, 2, argv)) return NULL;
  Capture *c = get_capture(env, argv[0]);
  if (c == NULL) return NULL;
  char *text = malloc(FILTER_MAX);
  if (text == NULL) return throw_code(env, "ERR_MEMORY", "setFilter: out of memory");
  if (!get_string(env, argv[1], text, FILTER_MAX, "setFilter: the filter must be a string shorter than 64 KiB")) {
    free(text);
    return NULL;
  }
  int status = lib_pcap_compile(c->pcap, &program, text, 1, PCAP_NETMASK_UNKNOWN);
  free(text);
  if (status != 0) return throw_status(env, PCAP_ERROR, pcap_text(c->pcap, status));
  status = lib_pcap_setfilter(c->pcap, &program);
  lib_pcap_freecode(&program);
  if (status != 0) return throw_status(env, PCAP_ERROR, pcap_text(c->pcap, status));
  return undefined_value(env);
}

// ---- poll and read ----

static void on_readable(uv_poll_t *poll, int status, int events) {
  Capture *c = poll->data;
  napi_env env = c->env;
  napi_handle_scope scope;
  napi_value callback, receiver, argv[1], result;
  size_t argc = 0;
  (void)events;
  if (c->closing || c->callback == NULL) return;
  napi_open_handle_scope(env, &scope);
  if (status < 0) {
    napi_value code, message;
    uv_poll_stop(poll);
    napi_create_string_utf8(env, uv_err_name(status), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, uv_strerror(status), NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &argv[0]);
    argc = 1;
  }
  napi_get_reference_value(env, c->callback, &callback);
  napi_get_global(env, &receiver); // napi_make_callback wants an object
  if (napi_make_callback(env, c->async, receiver, callback, argc, argv, &result) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

// start(handle, onReadable): onReadable() runs in this thread's loop whenever packets wait
// (onReadable(error) if polling fails); it calls read() until it has what it wants.
static napi_value Start(napi_env env, napi_callback_info info) {
  napi_value argv[2], name;
  napi_valuetype type;
  uv_loop_t *loop;
  if (!get_args(env, info, 2, argv)) return NULL;
  Capture *c = get_capture(env, argv[0]);
  if (c == NULL) return NULL;
  napi_typeof(env, argv[1], &type);
  if (type != napi_function) return throw_code(env, "ERR_INVALID_ARG_TYPE", "start: onReadable must be a function");
  if (c->poll_open) return throw_code(env, "ERR_CAPTURE_STARTED", "start: the capture is already started");
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return NULL;
  int fd = lib_pcap_get_selectable_fd(c->pcap);
  int failed = uv_poll_init(loop, &c->poll, fd);
  if (failed) return throw_code(env, uv_err_name(failed), uv_strerror(failed));
  c->poll.data = c;
  c->poll_open = 1;
  napi_create_reference(env, argv[1], 1, &c->callback);
  napi_create_string_utf8(env, "siphon:pcap", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &c->async);
  failed = uv_poll_start(&c->poll, UV_READABLE, on_readable);
  if (failed) return throw_code(env, uv_err_name(failed), uv_strerror(failed));
  return undefined_value(env);
}

typedef struct {
  uint8_t *out;
  size_t used;
  size_t size;
  Capture *capture;
} Fill;

#define RECORD_HEADER_BYTES 16

// One classic pcap record, in this machine's byte order. The caller made room for a header and
// a snap length; a caplen beyond either is cut (and counted), never written past the buffer.
static void put_record(u_char *user, const struct pcap_pkthdr *header, const u_char *bytes) {
  Fill *fill = (Fill *)user;
  size_t room = fill->size - fill->used;
  if (room < RECORD_HEADER_BYTES) return;
  uint32_t caplen = header->caplen;
  uint32_t limit = (uint32_t)fill->capture->snapshot;
  if (room - RECORD_HEADER_BYTES < limit) limit = (uint32_t)(room - RECORD_HEADER_BYTES);
  if (caplen > limit) {
    caplen = limit;
    fill->capture->cut++;
  }
  uint32_t record[4] = {(uint32_t)header->ts.tv_sec, (uint32_t)header->ts.tv_usec, caplen,
                        header->len < caplen ? caplen : header->len};
  memcpy(fill->out + fill->used, record, sizeof record);
  memcpy(fill->out + fill->used + RECORD_HEADER_BYTES, bytes, caplen);
  fill->used += RECORD_HEADER_BYTES + caplen;
}

// read(handle, target): the bytes of whole pcap records written at the start of target (a
// Uint8Array). Stops when libpcap has nothing more, or when a packet of the snap length might
// not fit: what stays in the ring is read next time.
static napi_value Read(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void *data = NULL;
  bool is_typed = false;
  if (!get_args(env, info, 2, argv)) return NULL;
  Capture *c = get_capture(env, argv[0]);
  if (c == NULL) return NULL;
  napi_is_typedarray(env, argv[1], &is_typed);
  if (!is_typed || napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, &offset) != napi_ok ||
      type != napi_uint8_array) {
    return throw_code(env, "ERR_INVALID_ARG_TYPE", "read: the target must be a Uint8Array or Buffer");
  }
  const size_t record_max = RECORD_HEADER_BYTES + (size_t)c->snapshot;
  if (data == NULL || length < record_max) {
    char message[160];
    snprintf(message, sizeof message, "read: the target holds %zu bytes, less than one record (%zu)", length, record_max);
    return throw_code(env, "ERR_OUT_OF_RANGE", message);
  }
  Fill fill = {data, 0, length, c};
  while (fill.size - fill.used >= record_max) {
    size_t fits = (fill.size - fill.used) / record_max;
    int want = fits > INT_MAX ? INT_MAX : (int)fits;
    int got = lib_pcap_dispatch(c->pcap, want, put_record, (u_char *)&fill);
    if (got == PCAP_ERROR_BREAK) break;
    if (got < 0) return throw_status(env, got, pcap_text(c->pcap, got));
    if (got < want) break;
  }
  napi_create_double(env, (double)fill.used, &result);
  return result;
}

// stats(handle): libpcap's counters, 32-bit and wrapping (take differences modulo 2^32).
static napi_value Stats(napi_env env, napi_callback_info info) {
  napi_value argv[1], result, value;
  struct pcap_stat stat;
  if (!get_args(env, info, 1, argv)) return NULL;
  Capture *c = get_capture(env, argv[0]);
  if (c == NULL) return NULL;
  memset(&stat, 0, sizeof stat);
  if (lib_pcap_stats(c->pcap, &stat) != 0) return throw_status(env, PCAP_ERROR, pcap_text(c->pcap, PCAP_ERROR));
  napi_create_object(env, &result);
  napi_create_uint32(env, stat.ps_recv, &value);
  napi_set_named_property(env, result, "received", value);
  napi_create_uint32(env, stat.ps_drop, &value);
  napi_set_named_property(env, result, "dropped", value);
  napi_create_uint32(env, stat.ps_ifdrop, &value);
  napi_set_named_property(env, result, "ifDropped", value);
  napi_create_uint32(env, c->cut, &value);
  napi_set_named_property(env, result, "cut", value);
  return result;
}

// close(handle): stops polling and closes the handle; closing twice is harmless.
static napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *data = NULL;
  bool ours = false;
  if (!get_args(env, info, 1, argv)) return NULL;
  napi_valuetype type;
  napi_typeof(env, argv[0], &type);
  if (type == napi_external) napi_check_object_type_tag(env, argv[0], &CAPTURE_TAG, &ours);
  if (!ours || napi_get_value_external(env, argv[0], &data) != napi_ok) {
    return throw_code(env, "ERR_INVALID_ARG_TYPE", "close: expected a handle from open()");
  }
  begin_close(data, 0);
  return undefined_value(env);
}

// ---- a pipe's capacity ----

// Linux's (linux/fcntl.h: F_LINUX_SPECIFIC_BASE + 7 and + 8); glibc declares them only under _GNU_SOURCE.
#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#define F_GETPIPE_SZ 1032
#endif

// pipeSize(fd, bytes?): asks the kernel to make the pipe on fd hold `bytes` (F_SETPIPE_SZ; an
// unprivileged process may ask up to /proc/sys/fs/pipe-max-size, 1 MiB by default), then gives
// what it holds (F_GETPIPE_SZ). Not libpcap's, but this is siphon's one native addon: Node has
// no fcntl, and a 64 KiB pipe makes a writer of 300 MB stop and wait thousands of times.
static napi_value PipeSize(napi_env env, napi_callback_info info) {
  napi_value argv[2], value;
  napi_valuetype type;
  int32_t fd = -1;
  uint32_t bytes = 0;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    return throw_code(env, "ERR_INVALID_ARG_TYPE", "pipeSize: expected a file descriptor");
  }
  napi_typeof(env, argv[1], &type);
  if (type != napi_undefined && (napi_get_value_uint32(env, argv[1], &bytes) != napi_ok || bytes == 0 || bytes > INT_MAX)) {
    return throw_code(env, "ERR_OUT_OF_RANGE", "pipeSize: bytes must be from 1 to 2^31 - 1");
  }
  // The system call itself: glibc 2.28 gave fcntl a new symbol version, which an older glibc lacks.
  if (bytes != 0 && syscall(SYS_fcntl, fd, F_SETPIPE_SZ, (int)bytes) < 0) return throw_code(env, "ERR_PIPE_SIZE", strerror(errno));
  long held = syscall(SYS_fcntl, fd, F_GETPIPE_SZ);
  if (held < 0) return throw_code(env, "ERR_PIPE_SIZE", strerror(errno));
  napi_create_int32(env, (int32_t)held, &value);
  return value;
}

// ---- a descriptor's readiness ----

// A capture piped to stdin is read on the main thread, a chunk each time the pipe is readable,
// from the descriptor made non-blocking: no read ever waits, so a stop only closes the watch.
// (A read waiting in libuv's thread pool cannot be abandoned: the process's exit joins the
// pool's threads, and would wait on that read for as long as the writer stays silent.)
// Node has no poll of a bare descriptor, so it is here, beside pipeSize.

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int closing;
  int references;        // the JS handle object, and a close under way
  napi_ref callback;     // the one whenReadable() waits with, until it is called
  napi_async_context async;
  napi_async_cleanup_hook_handle cleanup;
} Watch;

static const napi_type_tag WATCH_TAG = {0x5170686f6e776174ULL, 0x6368666464657363ULL};

static void release_watch(Watch *w) {
  if (--w->references == 0) free(w);
}

static void on_watch_closed(uv_handle_t *handle) {
  Watch *w = handle->data;
  if (w->cleanup != NULL) napi_remove_async_cleanup_hook(w->cleanup);
  w->cleanup = NULL;
  release_watch(w);
}

// Stops the poll (libuv's, not the descriptor: that stays the caller's). `teardown` is set when
// the environment is going away: then no JS is touched.
static void begin_unwatch(Watch *w, int teardown) {
  if (w->closing) return;
  w->closing = 1;
  if (!teardown && w->callback != NULL) napi_delete_reference(w->env, w->callback);
  if (!teardown && w->async != NULL) napi_async_destroy(w->env, w->async);
  w->callback = NULL;
  w->async = NULL;
  w->references++; // the poll lives inside w: held until libuv calls back
  uv_close((uv_handle_t *)&w->poll, on_watch_closed);
}

static void on_watch_teardown(napi_async_cleanup_hook_handle hook, void *data) {
  (void)hook;
  begin_unwatch(data, 1);
}

static void on_watch_collected(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  begin_unwatch(data, 1);
  release_watch(data);
}

static Watch *get_watch(napi_env env, napi_value value) {
  bool ours = false;
  void *data = NULL;
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_external) napi_check_object_type_tag(env, value, &WATCH_TAG, &ours);
  if (!ours || napi_get_value_external(env, value, &data) != napi_ok) {
    throw_code(env, "ERR_INVALID_ARG_TYPE", "expected a watch from watchReadable()");
    return NULL;
  }
  return data;
}

// watchReadable(fd): a watch over fd, which libuv makes non-blocking. Throws (libuv's code)
// where fd cannot be polled, as a regular file cannot.
static napi_value WatchReadable(napi_env env, napi_callback_info info) {
  napi_value argv[1], handle, name;
  int32_t fd = -1;
  uv_loop_t *loop;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    return throw_code(env, "ERR_INVALID_ARG_TYPE", "watchReadable: expected a file descriptor");
  }
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return NULL;
  Watch *w = calloc(1, sizeof *w);
  if (w == NULL) return throw_code(env, "ERR_MEMORY", "watchReadable: out of memory");
  int failed = uv_poll_init(loop, &w->poll, fd);
  if (failed) {
    free(w);
    return throw_code(env, uv_err_name(failed), uv_strerror(failed));
  }
  w->env = env;
  w->poll.data = w;
  w->references = 1;
  if (napi_create_external(env, w, on_watch_collected, NULL, &handle) != napi_ok) {
    w->closing = 1;
    uv_close((uv_handle_t *)&w->poll, on_watch_closed); // frees w: its one reference
    return NULL;
  }
  napi_type_tag_object(env, handle, &WATCH_TAG);
  napi_create_string_utf8(env, "siphon:watch", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &w->async);
  napi_add_async_cleanup_hook(env, on_watch_teardown, w, &w->cleanup);
  return handle;
}

static void on_watch_event(uv_poll_t *poll, int status, int events) {
  Watch *w = poll->data;
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_value callback, receiver, argv[1], result;
  size_t argc = 0;
  (void)events;
  uv_poll_stop(poll);
  if (w->closing || w->callback == NULL) return;
  napi_open_handle_scope(env, &scope);
  napi_get_reference_value(env, w->callback, &callback);
  napi_delete_reference(env, w->callback);
  w->callback = NULL;
  if (status < 0) {
    napi_value code, message;
    napi_create_string_utf8(env, uv_err_name(status), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, uv_strerror(status), NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &argv[0]);
    argc = 1;
  }
  napi_get_global(env, &receiver);
  if (napi_make_callback(env, w->async, receiver, callback, argc, argv, &result) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

// whenReadable(watch, callback): callback() once, in this thread's loop, when a read of the
// descriptor would not wait (data, its end, or an error to read); callback(error) if polling fails.
static napi_value WhenReadable(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  napi_valuetype type;
  if (!get_args(env, info, 2, argv)) return NULL;
  Watch *w = get_watch(env, argv[0]);
  if (w == NULL) return NULL;
  if (w->closing) return throw_code(env, "ERR_WATCH_CLOSED", "whenReadable: the watch is closed");
  napi_typeof(env, argv[1], &type);
  if (type != napi_function) return throw_code(env, "ERR_INVALID_ARG_TYPE", "whenReadable: callback must be a function");
  if (w->callback != NULL) return throw_code(env, "ERR_WATCH_BUSY", "whenReadable: already waiting");
  int failed = uv_poll_start(&w->poll, UV_READABLE, on_watch_event);
  if (failed) return throw_code(env, uv_err_name(failed), uv_strerror(failed));
  napi_create_reference(env, argv[1], 1, &w->callback);
  return undefined_value(env);
}

// unwatch(watch): stops watching (a pending whenReadable is never called); twice is harmless.
static napi_value Unwatch(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Watch *w = get_watch(env, argv[0]);
  if (w == NULL) return NULL;
  begin_unwatch(w, 0);
  return undefined_value(env);
}

// ---- devices, version ----

static napi_value Devices(napi_env env, napi_callback_info info) {
  napi_value list, entry, value;
  pcap_if_t *all = NULL;
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  uint32_t i = 0;
  (void)info;
  if (!library_ready(env)) return NULL;
  if (lib_pcap_findalldevs(&all, errbuf) != 0) return throw_status(env, PCAP_ERROR, errbuf);
  napi_create_array(env, &list);
  for (pcap_if_t *d = all; d != NULL; d = d->next) {
    napi_create_object(env, &entry);
    napi_create_string_utf8(env, d->name, NAPI_AUTO_LENGTH, &value);
    napi_set_named_property(env, entry, "name", value);
    napi_create_string_utf8(env, d->description ? d->description : "", NAPI_AUTO_LENGTH, &value);
    napi_set_named_property(env, entry, "description", value);
    napi_create_uint32(env, d->flags, &value);
    napi_set_named_property(env, entry, "flags", value);
    napi_set_element(env, list, i++, entry);
  }
  lib_pcap_freealldevs(all);
  return list;
}

static napi_value LibVersion(napi_env env, napi_callback_info info) {
  napi_value value;
  (void)info;
  if (!library_ready(env)) return NULL;
  napi_create_string_utf8(env, lib_pcap_lib_version(), NAPI_AUTO_LENGTH, &value);
  return value;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
      {"open", NULL, Open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setFilter", NULL, SetFilter, NULL, NULL, NULL, napi_enumerable, NULL},
      {"start", NULL, Start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"read", NULL, Read, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, Stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"devices", NULL, Devices, NULL, NULL, NULL, napi_enumerable, NULL},
      {"libVersion", NULL, LibVersion, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pipeSize", NULL, PipeSize, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchReadable", NULL, WatchReadable, NULL, NULL, NULL, napi_enumerable, NULL},
      {"whenReadable", NULL, WhenReadable, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unwatch", NULL, Unwatch, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof *functions, functions);
  return exports;
}
