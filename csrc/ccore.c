/* The compiled core of the per-answer analysis: token hashes, n-gram hashes, seq-rep counts,
 * shingle sets, MinHash band keys and hashed-feature embedding rows of a batch of answers.
 *
 * Every value is bit-for-bit what the numpy code in collapse_otel/hash_core.py computes (that
 * code is the fallback and the test oracle); this file only does it in one pass per answer, with
 * the interpreter lock released, so the host's threads keep running while a batch is analysed.
 * It also runs the near-duplicate query of one answer against the window (near_match, below),
 * equal to the numpy code in collapse_otel/signals/duplicates.py in the same way.
 * Plain C99 and the CPython C API; no numpy headers, so it builds wherever Python.h is present.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define P_MUL 0x9E3779B97F4A7C15ULL
#define M1 0xBF58476D1CE4E5B9ULL
#define M2 0x94D049BB133111EBULL
#define LEN_SALT 0xD6E8FEB86659FD93ULL
#define WORD_TABLE 64

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= M1;
    x ^= x >> 27;
    x *= M2;
    return x ^ (x >> 31);
}

/* A word byte: [A-Za-z0-9_] or any byte >= 0x80 (hashing.word_spans). */
static unsigned char WORD_BYTE[256];

static void init_word_bytes(void) {
    for (int c = 0; c < 256; c++) {
        WORD_BYTE[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
    }
}

typedef struct {
    const uint64_t *word_k;  /* WORD_TABLE odd multipliers of a token's 8-byte words */
    const uint64_t *mh_a;    /* bands * rows MinHash multipliers */
    const uint64_t *band_salt;
    int bands, rows, seq_n, shingle_n, dim;
} Params;

static inline uint64_t word_multiplier(const Params *p, size_t k) {
    if (k < WORD_TABLE) return p->word_k[k];
    return mix64((uint64_t)k ^ LEN_SALT) | 1ULL;
}

static inline uint64_t load_le(const unsigned char *s, size_t n) {
    uint64_t w = 0;
    if (n == 8) {
        for (int i = 7; i >= 0; i--) w = (w << 8) | s[i];  /* compilers make this one load */
        return w;
    }
    for (size_t i = 0; i < n; i++) w |= (uint64_t)s[i] << (8 * i);
    return w;
}

static uint64_t token_hash(const Params *p, const unsigned char *s, size_t len) {
    uint64_t acc = 0;
    size_t k = 0;
    for (size_t off = 0; off < len; off += 8, k++) {
        size_t n = len - off < 8 ? len - off : 8;
        acc += load_le(s + off, n) * word_multiplier(p, k);
    }
    return mix64(acc ^ ((uint64_t)len * LEN_SALT));
}

/* Token hashes of one piece appended to *out (grown as needed); returns the count or -1. */
static Py_ssize_t tokenise(const Params *p, const unsigned char *s, size_t n,
                           uint64_t **out, size_t *used_io, size_t *cap_io) {
    size_t used = *used_io, cap = *cap_io, i = 0, first = used;
    uint64_t *buf = *out;
    while (i < n) {
        while (i < n && !WORD_BYTE[s[i]]) i++;
        if (i >= n) break;
        size_t start = i;
        while (i < n && WORD_BYTE[s[i]]) i++;
        if (used == cap) {
            size_t grown = cap ? cap * 2 : 1024;
            uint64_t *bigger = realloc(buf, grown * sizeof(uint64_t));
            if (!bigger) {
                *out = buf;
                *used_io = used;
                return -1;
            }
            buf = bigger;
            cap = grown;
        }
        buf[used++] = token_hash(p, s + start, i - start);
    }
    *out = buf;
    *used_io = used;
    *cap_io = cap;
    return (Py_ssize_t)(used - first);
}

/* Horner form of the polynomial n-gram hash: sum_j t[i+j] * P^(n-1-j) mod 2^64. */
static inline uint64_t gram(const uint64_t *t, int n) {
    uint64_t h = t[0];
    for (int j = 1; j < n; j++) h = h * P_MUL + t[j];
    return h;
}

/* Distinct values among v[0..n) (all < 2^63), with an open-addressing table of 2^k >= 2n. */
static size_t count_distinct(const uint64_t *v, size_t n, uint64_t *table, size_t size) {
    memset(table, 0, size * sizeof(uint64_t));
    size_t mask = size - 1, distinct = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = v[i] + 1;  /* 0 marks an empty slot */
        size_t slot = (size_t)(mix64(key) & mask);
        while (table[slot] && table[slot] != key) slot = (slot + 1) & mask;
        if (!table[slot]) {
            table[slot] = key;
            distinct++;
        }
    }
    return distinct;
}

/* Sort v[0..n) ascending (LSD radix, 4 passes of 8 bits) and drop repeats; returns the count. */
static size_t sort_unique32(uint32_t *v, uint32_t *tmp, size_t n) {
    uint32_t *src = v, *dst = tmp;
    for (int shift = 0; shift < 32; shift += 8) {
        size_t counts[257] = {0};
        for (size_t i = 0; i < n; i++) counts[((src[i] >> shift) & 0xFF) + 1]++;
        for (int b = 0; b < 256; b++) counts[b + 1] += counts[b];
        for (size_t i = 0; i < n; i++) dst[counts[(src[i] >> shift) & 0xFF]++] = src[i];
        uint32_t *swap = src;
        src = dst;
        dst = swap;
    }
    /* four passes: the sorted values are back in v */
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (out == 0 || v[i] != v[out - 1]) v[out++] = v[i];
    }
    return out;
}

typedef struct {
    size_t answers;
    uint64_t *tokens; size_t tokens_used, tokens_cap;
    int64_t *lengths, *seq_total, *seq_unique, *shingle_counts;
    uint32_t *shingles; size_t shingles_used;
    uint64_t *band_keys;
    double *embedding;
} Result;

static void result_free(Result *r) {
    free(r->tokens); free(r->lengths); free(r->seq_total); free(r->seq_unique);
    free(r->shingle_counts); free(r->shingles); free(r->band_keys); free(r->embedding);
}

/* Everything after tokenising, for one answer's tokens t[0..n). Scratch space: grams and tmp
 * (n values), table (2^k >= 2n), sig (bands * rows). */
static void per_answer(const Params *p, const uint64_t *t, size_t n, size_t a, Result *r,
                       uint64_t *grams, uint64_t *table, size_t table_size, uint32_t *tmp,
                       uint64_t *sig) {
    /* seq-rep: distinct 48-bit prefixes of the in-answer seq_n-grams */
    size_t sn = (size_t)p->seq_n, total = n >= sn ? n - sn + 1 : 0;
    for (size_t i = 0; i < total; i++) grams[i] = gram(t + i, p->seq_n) >> 16;
    r->seq_total[a] = (int64_t)total;
    size_t size = 16;  /* this answer's table: a batch's one long answer must not slow the rest */
    while (size < 2 * total && size < table_size) size <<= 1;
    r->seq_unique[a] = (int64_t)count_distinct(grams, total, table, size);
    /* shingles: sorted distinct 32-bit prefixes of the shingle_n-grams */
    size_t kn = (size_t)p->shingle_n, shingles = n >= kn ? n - kn + 1 : 0;
    uint32_t *sh = r->shingles + r->shingles_used;
    for (size_t i = 0; i < shingles; i++) sh[i] = (uint32_t)(gram(t + i, p->shingle_n) >> 32);
    shingles = sort_unique32(sh, tmp, shingles);
    r->shingles_used += shingles;
    r->shingle_counts[a] = (int64_t)shingles;
    /* MinHash: per function, the least multiply-shift value over the shingles (the function
     * loop outside, so each minimum stays in a register) */
    int funcs = p->bands * p->rows;
    for (size_t i = 0; i < shingles; i++) grams[i] = mix64((uint64_t)sh[i]);
    int f = 0;
    for (; f + 3 <= funcs; f += 3) {  /* three functions a pass: independent minimum chains */
        uint64_t l0 = UINT64_MAX, l1 = UINT64_MAX, l2 = UINT64_MAX;
        uint64_t m0 = p->mh_a[f], m1 = p->mh_a[f + 1], m2 = p->mh_a[f + 2];
        for (size_t i = 0; i < shingles; i++) {
            uint64_t g = grams[i], v0 = m0 * g, v1 = m1 * g, v2 = m2 * g;
            l0 = v0 < l0 ? v0 : l0;
            l1 = v1 < l1 ? v1 : l1;
            l2 = v2 < l2 ? v2 : l2;
        }
        sig[f] = l0;
        sig[f + 1] = l1;
        sig[f + 2] = l2;
    }
    for (; f < funcs; f++) {
        uint64_t least = UINT64_MAX, mul = p->mh_a[f];
        for (size_t i = 0; i < shingles; i++) {
            uint64_t v = mul * grams[i];
            least = v < least ? v : least;
        }
        sig[f] = least;
    }
    for (int b = 0; b < p->bands; b++) {
        uint64_t key = 0;
        for (int j = 0; j < p->rows; j++) key = key * P_MUL + sig[b * p->rows + j];
        r->band_keys[a * (size_t)p->bands + b] = mix64(key ^ p->band_salt[b]);
    }
    /* signed feature hashing of unigrams and bigrams */
    if (p->dim > 0) {
        double *row = r->embedding + a * (size_t)p->dim;
        uint64_t dim = (uint64_t)p->dim;
        if ((dim & (dim - 1)) == 0) {  /* a power of two (the default 128): a mask, no division */
            uint64_t mask = dim - 1;
            for (size_t i = 0; i < n; i++) row[(t[i] >> 1) & mask] += (t[i] & 1) ? -1.0 : 1.0;
            for (size_t i = 0; i + 1 < n; i++) {
                uint64_t h = t[i] * P_MUL + t[i + 1];
                row[(h >> 1) & mask] += (h & 1) ? -1.0 : 1.0;
            }
        } else {
            for (size_t i = 0; i < n; i++) row[(t[i] >> 1) % dim] += (t[i] & 1) ? -1.0 : 1.0;
            for (size_t i = 0; i + 1 < n; i++) {
                uint64_t h = t[i] * P_MUL + t[i + 1];
                row[(h >> 1) % dim] += (h & 1) ? -1.0 : 1.0;
            }
        }
    }
}

/* The whole batch, without the interpreter lock. Returns 0, or -1 when memory ran out. */
static int analyse(const Params *p, const unsigned char *const *texts, const size_t *sizes,
                   size_t answers, Result *r) {
    r->answers = answers;
    size_t m = answers ? answers : 1;
    r->lengths = calloc(m, sizeof(int64_t));
    r->seq_total = calloc(m, sizeof(int64_t));
    r->seq_unique = calloc(m, sizeof(int64_t));
    r->shingle_counts = calloc(m, sizeof(int64_t));
    r->band_keys = calloc(m * (size_t)(p->bands > 0 ? p->bands : 1), sizeof(uint64_t));
    r->embedding = calloc(m * (size_t)(p->dim > 0 ? p->dim : 1), sizeof(double));
    if (!r->lengths || !r->seq_total || !r->seq_unique || !r->shingle_counts ||
        !r->band_keys || !r->embedding)
        return -1;
    size_t longest = 0;
    for (size_t a = 0; a < answers; a++) {
        Py_ssize_t c = tokenise(p, texts[a], sizes[a], &r->tokens, &r->tokens_used,
                                &r->tokens_cap);
        if (c < 0) return -1;
        r->lengths[a] = c;
        if ((size_t)c > longest) longest = (size_t)c;
    }
    size_t table_size = 16;
    while (table_size < 2 * longest) table_size <<= 1;
    r->shingles = malloc((r->tokens_used ? r->tokens_used : 1) * sizeof(uint32_t));
    uint64_t *grams = malloc((longest ? longest : 1) * sizeof(uint64_t));
    uint64_t *table = malloc(table_size * sizeof(uint64_t));
    uint32_t *tmp = malloc((longest ? longest : 1) * sizeof(uint32_t));
    uint64_t *sig = malloc((size_t)p->bands * (size_t)p->rows * sizeof(uint64_t));
    int status = (r->shingles && grams && table && tmp && sig) ? 0 : -1;
    size_t offset = 0;
    for (size_t a = 0; a < answers && status == 0; a++) {
        per_answer(p, r->tokens + offset, (size_t)r->lengths[a], a, r, grams, table, table_size,
                   tmp, sig);
        offset += (size_t)r->lengths[a];
    }
    free(grams); free(table); free(tmp); free(sig);
    return status;
}

static PyObject *as_bytearray(const void *data, size_t bytes) {
    return PyByteArray_FromStringAndSize(data ? (const char *)data : "", (Py_ssize_t)bytes);
}

static int u64_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t need, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->len != need * (Py_ssize_t)sizeof(uint64_t)) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd uint64 values", what, need);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(batch_doc,
"batch(pieces, word_k, minhash_a, band_salt, bands, rows, seq_n, shingle_n, dim)\n--\n\n"
"Hashes of a batch of answers (word_bytes output); see collapse_otel.hash_core. Returns\n"
"bytearrays: tokens (u64), lengths, seq_total, seq_unique (i64), shingles (u32),\n"
"shingle_counts (i64), band_keys (u64, answers x bands), embedding (f64, answers x dim).");

static PyObject *py_batch(PyObject *self, PyObject *args) {
    PyObject *pieces_in, *word_k_obj, *a_obj, *salt_obj;
    Params p;
    if (!PyArg_ParseTuple(args, "OOOOiiiii", &pieces_in, &word_k_obj, &a_obj, &salt_obj,
                          &p.bands, &p.rows, &p.seq_n, &p.shingle_n, &p.dim))
        return NULL;
    if (p.bands < 1 || p.rows < 1 || p.seq_n < 1 || p.shingle_n < 1 || p.dim < 0) {
        PyErr_SetString(PyExc_ValueError, "bands, rows and n-gram sizes must be >= 1, dim >= 0");
        return NULL;
    }
    /* a tuple holds its own references: the bytes stay alive while the lock is released */
    PyObject *pieces = PySequence_Tuple(pieces_in);
    if (!pieces) return NULL;
    Py_ssize_t answers = PyTuple_GET_SIZE(pieces);
    Py_buffer wk, ma, bs;
    if (u64_buffer(word_k_obj, &wk, WORD_TABLE, "word_k") < 0) { Py_DECREF(pieces); return NULL; }
    if (u64_buffer(a_obj, &ma, (Py_ssize_t)p.bands * p.rows, "minhash_a") < 0) {
        PyBuffer_Release(&wk); Py_DECREF(pieces); return NULL;
    }
    if (u64_buffer(salt_obj, &bs, p.bands, "band_salt") < 0) {
        PyBuffer_Release(&wk); PyBuffer_Release(&ma); Py_DECREF(pieces); return NULL;
    }
    p.word_k = wk.buf;
    p.mh_a = ma.buf;
    p.band_salt = bs.buf;
    const unsigned char **texts = PyMem_Calloc(answers ? answers : 1, sizeof(char *));
    size_t *sizes = PyMem_Calloc(answers ? answers : 1, sizeof(size_t));
    PyObject *out = NULL;
    Result r;
    memset(&r, 0, sizeof(r));
    if (!texts || !sizes) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < answers; i++) {
        PyObject *item = PyTuple_GET_ITEM(pieces, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "pieces must be bytes");
            goto done;
        }
        texts[i] = (const unsigned char *)PyBytes_AS_STRING(item);
        sizes[i] = (size_t)PyBytes_GET_SIZE(item);
    }
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = analyse(&p, texts, sizes, (size_t)answers, &r);
    Py_END_ALLOW_THREADS
    if (status < 0) {
        PyErr_NoMemory();
        goto done;
    }
    size_t n = (size_t)answers;
    out = Py_BuildValue(
        "(NNNNNNNN)",
        as_bytearray(r.tokens, r.tokens_used * sizeof(uint64_t)),
        as_bytearray(r.lengths, n * sizeof(int64_t)),
        as_bytearray(r.seq_total, n * sizeof(int64_t)),
        as_bytearray(r.seq_unique, n * sizeof(int64_t)),
        as_bytearray(r.shingles, r.shingles_used * sizeof(uint32_t)),
        as_bytearray(r.shingle_counts, n * sizeof(int64_t)),
        as_bytearray(r.band_keys, n * (size_t)p.bands * sizeof(uint64_t)),
        as_bytearray(r.embedding, n * (size_t)p.dim * sizeof(double)));
done:
    result_free(&r);
    PyMem_Free(texts);
    PyMem_Free(sizes);
    PyBuffer_Release(&wk);
    PyBuffer_Release(&ma);
    PyBuffer_Release(&bs);
    Py_DECREF(pieces);
    return out;
}

/* ---- The near-duplicate query of one answer (collapse_otel/signals/duplicates.py) ----
 *
 * match_in_window with a floor, for one answer against the panes of a window: every entry of
 * the answer's LSH buckets counted, the `limit` sharing the most bands (the most recent first
 * among equals), bounded by their shingle histograms and verified in that order. On templated
 * traffic the buckets are full and this is most of the worker's time; the Python code there is
 * the definition and the test oracle, and this is bit-exact with it, the indexes' histogram
 * caches included. It reads the indexes' dicts and lists, so it holds the interpreter lock. It
 * raises when an input is not what the aggregator stores, and the caller then takes the Python
 * path: histograms it has cached by then are the ones that path computes too. */

#define HIST_BINS 128

typedef struct {
    Py_buffer view;
    const void *data;
    Py_ssize_t n;
    int wide;   /* 8-byte values, else 4 */
    int held;
} Values;

static void values_release(Values *v) {
    if (v->held) PyBuffer_Release(&v->view);
    v->held = 0;
}

/* A 1-d contiguous array of native unsigned 4- or 8-byte integers (a shingle set). */
static int values_get(PyObject *obj, Values *v) {
    if (PyObject_GetBuffer(obj, &v->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    v->held = 1;
    const char *f = v->view.format ? v->view.format : "B";
    if (*f == '@' || *f == '=' || (PY_LITTLE_ENDIAN && *f == '<')) f++;
    Py_ssize_t size = v->view.itemsize;
    int ok = v->view.ndim == 1 && f[0] && !f[1] && strchr("ILQ", f[0]) != NULL &&
             (size == 4 || size == 8);
    if (!ok) {
        values_release(v);
        PyErr_SetString(PyExc_TypeError, "shingles must be 1-d unsigned 32- or 64-bit arrays");
        return -1;
    }
    v->data = v->view.buf;
    v->n = v->view.len / size;
    v->wide = size == 8;
    return 0;
}

/* A stored shingle set (the index holds only what values_get accepted, or arrays restored as
 * uint64): read without its format, which costs numpy more than the read. */
static int stored_get(PyObject *obj, Values *v) {
    if (PyObject_GetBuffer(obj, &v->view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    v->held = 1;
    Py_ssize_t size = v->view.itemsize;
    if (v->view.ndim != 1 || (size != 4 && size != 8)) {
        values_release(v);
        PyErr_SetString(PyExc_TypeError, "stored shingles must be 1-d 32- or 64-bit arrays");
        return -1;
    }
    v->data = v->view.buf;
    v->n = v->view.len / size;
    v->wide = size == 8;
    return 0;
}

static inline uint64_t value_at(const Values *v, Py_ssize_t i) {
    return v->wide ? ((const uint64_t *)v->data)[i] : ((const uint32_t *)v->data)[i];
}

/* Values <= limit among the first n (sorted ascending): searchsorted(side="right"). */
static Py_ssize_t count_upto(const Values *v, Py_ssize_t n, uint64_t limit) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (value_at(v, mid) <= limit) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* duplicates.sorted_jaccard of two sorted sets of distinct values. */
static double values_jaccard(const Values *a, const Values *b, Py_ssize_t sketch) {
    Py_ssize_t la = a->n, lb = b->n;
    if (!la || !lb) return la == lb ? 1.0 : 0.0;
    if (la >= sketch || lb >= sketch) {
        uint64_t a_last = value_at(a, la - 1), b_last = value_at(b, lb - 1);
        uint64_t x = la >= sketch ? a_last : b_last, y = lb >= sketch ? b_last : a_last;
        uint64_t limit = x < y ? x : y;
        la = count_upto(a, la, limit);
        lb = count_upto(b, lb, limit);
    }
    Py_ssize_t i = 0, j = 0, inter = 0;
    while (i < la && j < lb) {
        uint64_t u = value_at(a, i), w = value_at(b, j);
        if (u < w) i++;
        else if (w < u) j++;
        else { inter++; i++; j++; }
    }
    Py_ssize_t uni = la + lb - inter;
    return uni ? (double)inter / (double)uni : 0.0;
}

/* DuplicateIndex.histogram: 1 and the counts in out when usable; 0, out untouched, for a
 * sketch or a bin that would overflow. */
static int values_hist(const Values *v, Py_ssize_t sketch, uint8_t *out) {
    if (v->n >= sketch) return 0;
    uint32_t c[HIST_BINS] = {0};
    for (Py_ssize_t i = 0; i < v->n; i++) c[value_at(v, i) & (HIST_BINS - 1)]++;
    for (int b = 0; b < HIST_BINS; b++)
        if (c[b] >= 256) return 0;
    for (int b = 0; b < HIST_BINS; b++) out[b] = (uint8_t)c[b];
    return 1;
}

static PyObject *s_buckets, *s_shingles, *s_hist, *s_hist_state;

typedef struct {
    PyObject *buckets, *shingles, *hist, *state;   /* new references */
    Py_ssize_t n;                                   /* answers in the pane */
    Py_buffer hist_view, state_view;
    int views;
} Pane;

typedef struct {
    const int64_t *p;
    Py_ssize_t n;
    int64_t single, offset;
    int pane;
} Hit;

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

/* The highest set bit of x != 0. */
static inline int top_bit(uint64_t x) {
#if defined(__GNUC__) || defined(__clang__)
    return 63 - __builtin_clzll(x);
#else
    int b = 63;
    while (!(x >> b)) b--;
    return b;
#endif
}

PyDoc_STRVAR(near_match_doc,
"near_match(panes, band_keys, shingles, limit, stop_at, floor, sketch, keep)\n--\n\n"
"duplicates.match_in_window(panes, shingles, band_keys, limit, stop_at, floor, hist) with the\n"
"answer's own histogram: (best, pane, position, histogram bytes or None), pane -1 when no\n"
"candidate was verified; or an int, the mask of panes whose histogram cache must grow first\n"
"(DuplicateIndex._grow), after which the call is repeated. A negative floor: none. keep: the\n"
"answer is added to the last pane next; its histogram is then cached there as keep_histogram\n"
"would, and returned only when the cache must grow first.");

static PyObject *py_near_match(PyObject *self, PyObject *args) {
    PyObject *panes_in, *keys_in, *own_obj;
    Py_ssize_t limit, sketch;
    double stop_at, floor_;
    int keep;
    if (!PyArg_ParseTuple(args, "OOOnddnp", &panes_in, &keys_in, &own_obj, &limit, &stop_at,
                          &floor_, &sketch, &keep))
        return NULL;
    PyObject *result = NULL;
    Pane panes[2];
    memset(panes, 0, sizeof(panes));
    Values own;
    memset(&own, 0, sizeof(own));
    Values cands[256];
    Py_ssize_t ncands = 0;
    Py_buffer hit_views[64];
    int nviews = 0;
    Hit hits[64];
    int nhits = 0;
    uint64_t key_values[32];
    PyObject *key_objs[32];
    uint8_t *cnt = NULL;
    uint64_t *seen = NULL;   /* a bit per window position counted */
    int64_t *ranked = NULL, *levels = NULL;
    Py_ssize_t *level_n = NULL;
    int npanes = 0;

    PyObject *seq = PySequence_Fast(panes_in, "panes must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t np_ = PySequence_Fast_GET_SIZE(seq);
    if (np_ < 1 || np_ > 2 || limit < 0 || limit > 256 || sketch < 1) {
        PyErr_SetString(PyExc_ValueError, "one or two panes, 0 <= limit <= 256, sketch >= 1");
        goto done;
    }
    for (npanes = 0; npanes < np_; npanes++) {
        Pane *p = &panes[npanes];
        PyObject *pane = PySequence_Fast_GET_ITEM(seq, npanes);
        p->buckets = PyObject_GetAttr(pane, s_buckets);
        p->shingles = p->buckets ? PyObject_GetAttr(pane, s_shingles) : NULL;
        p->hist = p->shingles ? PyObject_GetAttr(pane, s_hist) : NULL;
        p->state = p->hist ? PyObject_GetAttr(pane, s_hist_state) : NULL;
        if (!p->state) { npanes++; goto done; }
        if (!PyDict_CheckExact(p->buckets) || !PyList_CheckExact(p->shingles)) {
            npanes++;
            PyErr_SetString(PyExc_TypeError, "an index's buckets must be a dict, shingles a list");
            goto done;
        }
        p->n = PyList_GET_SIZE(p->shingles);
    }
    if (values_get(own_obj, &own) < 0) goto done;

    /* the answer's distinct band keys (set semantics, as buckets.keys() & band_keys) */
    PyObject *kseq = PySequence_Fast(keys_in, "band keys must be a sequence");
    if (!kseq) goto done;
    Py_ssize_t nk_in = PySequence_Fast_GET_SIZE(kseq);
    int nkeys = 0;
    if (nk_in > 32) {
        Py_DECREF(kseq);
        PyErr_SetString(PyExc_ValueError, "at most 32 band keys");
        goto done;
    }
    for (Py_ssize_t i = 0; i < nk_in; i++) {
        PyObject *k = PySequence_Fast_GET_ITEM(kseq, i);
        if (!PyLong_CheckExact(k)) {
            Py_DECREF(kseq);
            PyErr_SetString(PyExc_TypeError, "band keys must be ints");
            goto done;
        }
        uint64_t v = PyLong_AsUnsignedLongLong(k);
        if (v == (uint64_t)-1 && PyErr_Occurred()) { Py_DECREF(kseq); goto done; }
        int seen = 0;
        for (int j = 0; j < nkeys; j++) seen |= key_values[j] == v;
        if (!seen) { key_values[nkeys] = v; key_objs[nkeys++] = k; }
    }

    /* the buckets' entries, as window positions (the older pane's first) */
    Py_ssize_t window = 0, total = 0;
    for (int k = 0; k < npanes; k++) {
        for (int j = 0; j < nkeys; j++) {
            PyObject *hit = PyDict_GetItemWithError(panes[k].buckets, key_objs[j]);
            if (!hit) {
                if (PyErr_Occurred()) { Py_DECREF(kseq); goto done; }
                continue;
            }
            Hit *h = &hits[nhits];
            h->offset = window;
            h->pane = k;
            if (PyLong_CheckExact(hit)) {
                h->single = PyLong_AsLongLong(hit);
                if (h->single == -1 && PyErr_Occurred()) { Py_DECREF(kseq); goto done; }
                h->p = &h->single;
                h->n = 1;
            } else {
                Py_buffer *view = &hit_views[nviews];
                if (PyObject_GetBuffer(hit, view, PyBUF_C_CONTIGUOUS) < 0) {
                    Py_DECREF(kseq); goto done;
                }
                nviews++;
                if (view->itemsize != 8) {
                    Py_DECREF(kseq);
                    PyErr_SetString(PyExc_TypeError, "bucket entries must be 64-bit");
                    goto done;
                }
                h->p = view->buf;
                h->n = view->len / 8;
            }
            total += h->n;
            nhits++;
        }
        window += panes[k].n;
    }
    Py_DECREF(kseq);

    /* count every entry; rank by (shared bands, position), both descending */
    Py_ssize_t nranked = 0;
    if (total && limit) {
        cnt = calloc((size_t)window, 1);
        seen = calloc((size_t)window / 64 + 1, sizeof(uint64_t));
        ranked = malloc(sizeof(int64_t) * (size_t)limit);
        if (!cnt || !seen || !ranked) { PyErr_NoMemory(); goto done; }
        int64_t lo = window, hi = -1;
        unsigned maxc = 0;
        for (int i = 0; i < nhits; i++) {
            const int64_t *e = hits[i].p;
            int64_t off = hits[i].offset, end = off + panes[hits[i].pane].n;
            for (Py_ssize_t j = 0; j < hits[i].n; j++) {
                int64_t pos = e[j] + off;
                if (pos < off || pos >= end) {
                    PyErr_SetString(PyExc_ValueError, "a bucket entry is outside its index");
                    goto done;
                }
                unsigned c = ++cnt[pos];
                if (c == 1) {
                    seen[pos >> 6] |= 1ULL << (pos & 63);
                    if (pos < lo) lo = pos;
                    if (pos > hi) hi = pos;
                }
                if (c > maxc) maxc = c;
                if (c == 0xFF) {
                    PyErr_SetString(PyExc_ValueError, "too many bucket entries");
                    goto done;
                }
            }
        }
        /* the counted positions newest first (their bits, a word at a time), at most
         * `limit` kept per count */
        levels = malloc(sizeof(int64_t) * (size_t)(maxc + 1) * (size_t)limit);
        level_n = calloc(maxc + 1, sizeof(Py_ssize_t));
        if (!levels || !level_n) { PyErr_NoMemory(); goto done; }
        int full = 0;
        for (int64_t w = hi >> 6; w >= lo >> 6 && !full; w--) {
            uint64_t bits = seen[w];
            while (bits) {
                int b = top_bit(bits);
                bits &= ~(1ULL << b);
                int64_t pos = (w << 6) | b;
                unsigned c = cnt[pos];
                if (level_n[c] < limit) {
                    levels[(Py_ssize_t)c * limit + level_n[c]++] = pos;
                    if (c == maxc && level_n[c] == limit) { full = 1; break; }
                }
            }
        }
        for (unsigned c = maxc; c >= 1 && nranked < limit; c--)
            for (Py_ssize_t j = 0; j < level_n[c] && nranked < limit; j++)
                ranked[nranked++] = levels[(Py_ssize_t)c * limit + j];
    }

    /* the candidates; their shingles are read when needed (most are never verified) */
    int pane_of[256];
    Py_ssize_t local_of[256];
    PyObject *stored[256];   /* borrowed from the lists, which nothing changes meanwhile */
    int involved[2] = {0, 0};
    for (Py_ssize_t i = 0; i < nranked; i++) {
        int k = npanes == 2 && ranked[i] >= panes[0].n;
        Py_ssize_t local = ranked[i] - (k ? panes[0].n : 0);
        pane_of[i] = k;
        local_of[i] = local;
        involved[k] = 1;
        stored[i] = PyList_GET_ITEM(panes[k].shingles, local);
        cands[i].held = 0;
    }
    ncands = nranked;
#define CANDIDATE(i) (cands[i].held || stored[i] == Py_None || stored_get(stored[i], &cands[i]) == 0)

    uint8_t own_hist[HIST_BINS];
    int own_usable = values_hist(&own, sketch, own_hist);
    int bounded = floor_ >= 0 && nranked > 1 && own_usable;
    Pane *cur = &panes[npanes - 1];
    if (bounded || (keep && own_usable)) {
        long grow = 0;
        for (int k = 0; k < npanes; k++) {
            if (!(bounded && involved[k]) && !(keep && k == npanes - 1)) continue;
            Pane *p = &panes[k];
            if (PyObject_GetBuffer(p->state, &p->state_view, PyBUF_CONTIG) < 0) goto done;
            if (PyObject_GetBuffer(p->hist, &p->hist_view, PyBUF_CONTIG) < 0) {
                PyBuffer_Release(&p->state_view);
                goto done;
            }
            p->views = 1;
            if (p->state_view.itemsize != 1 || p->hist_view.itemsize != 1 ||
                    p->hist_view.len != p->state_view.len * HIST_BINS) {
                PyErr_SetString(PyExc_TypeError, "histogram caches must be int8 and uint8 rows");
                goto done;
            }
            if (bounded && involved[k] && p->state_view.len < p->n) grow |= 1L << k;
        }
        if (grow) { result = PyLong_FromLong(grow); goto done; }
    }

    if (bounded) {   /* the rows are scattered over the caches: ask for all of them at once */
        for (Py_ssize_t i = 0; i < nranked; i++) {
            const uint8_t *row = (const uint8_t *)panes[pane_of[i]].hist_view.buf +
                                 local_of[i] * HIST_BINS;
            PREFETCH(row);
            PREFETCH(row + 64);
        }
    }

    /* in rank order: bound (histograms computed once per answer, then kept, as _histograms
     * does for every ranked candidate), verify, stop at the first match */
    double best = 0.0;
    Py_ssize_t where = -1;
    int found = 0;
    for (Py_ssize_t i = 0; i < nranked; i++) {
        if (bounded) {
            Pane *p = &panes[pane_of[i]];
            int8_t *state = (int8_t *)p->state_view.buf + local_of[i];
            uint8_t *row = (uint8_t *)p->hist_view.buf + local_of[i] * HIST_BINS;
            if (*state == 0) {
                if (!CANDIDATE(i)) goto done;
                *state = cands[i].held && values_hist(&cands[i], sketch, row) ? 1 : 2;
            }
            if (found) continue;
            if (*state == 1) {
                int64_t shared = 0, lengths = 0;
                for (int b = 0; b < HIST_BINS; b++) {
                    shared += row[b] < own_hist[b] ? row[b] : own_hist[b];
                    lengths += row[b];
                }
                int64_t denom = (int64_t)own.n + lengths - shared;
                if ((double)shared / (double)(denom > 1 ? denom : 1) < floor_) continue;
            }
        } else if (found) {
            break;
        }
        if (!CANDIDATE(i)) goto done;
        if (!cands[i].held) continue;   /* an exact duplicate's slot: nothing to verify */
        double sim = values_jaccard(&own, &cands[i], sketch);
        if (sim > best) {
            best = sim;
            where = i;
            found = best >= stop_at;
        }
    }

    /* the answer's own histogram: into the current pane's cache, where the caller adds it
     * next (keep_histogram), when the cache has started and has room; else returned */
    PyObject *hist = Py_None;
    int cached = 0;
    if (own_usable && keep) {
        cached = cur->state_view.len == 0;   /* not started: nothing to keep */
        if (cur->state_view.len > cur->n) {
            memcpy((uint8_t *)cur->hist_view.buf + cur->n * HIST_BINS, own_hist, HIST_BINS);
            ((int8_t *)cur->state_view.buf)[cur->n] = 1;
            cached = 1;
        }
    }
    if (own_usable && !cached) {
        hist = PyBytes_FromStringAndSize((const char *)own_hist, HIST_BINS);
        if (!hist) goto done;
    } else {
        Py_INCREF(hist);
    }
    result = Py_BuildValue("(dnnN)", best, where < 0 ? (Py_ssize_t)-1 : (Py_ssize_t)pane_of[where],
                           where < 0 ? (Py_ssize_t)-1 : local_of[where], hist);
#undef CANDIDATE
done:
    for (Py_ssize_t i = 0; i < ncands; i++) values_release(&cands[i]);
    values_release(&own);
    for (int i = 0; i < nviews; i++) PyBuffer_Release(&hit_views[i]);
    for (int k = 0; k < npanes; k++) {
        if (panes[k].views) {
            PyBuffer_Release(&panes[k].state_view);
            PyBuffer_Release(&panes[k].hist_view);
        }
        Py_XDECREF(panes[k].buckets);
        Py_XDECREF(panes[k].shingles);
        Py_XDECREF(panes[k].hist);
        Py_XDECREF(panes[k].state);
    }
    Py_DECREF(seq);
    free(cnt); free(seen); free(ranked); free(levels); free(level_n);
    return result;
}

static PyMethodDef methods[] = {
    {"batch", py_batch, METH_VARARGS, batch_doc},
    {"near_match", py_near_match, METH_VARARGS, near_match_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ccore",
    "The compiled core of collapse-otel's per-answer analysis (see collapse_otel.hash_core).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ccore(void) {
    init_word_bytes();
    s_buckets = PyUnicode_InternFromString("_buckets");
    s_shingles = PyUnicode_InternFromString("shingles");
    s_hist = PyUnicode_InternFromString("_hist");
    s_hist_state = PyUnicode_InternFromString("_hist_state");
    if (!s_buckets || !s_shingles || !s_hist || !s_hist_state) return NULL;
    return PyModule_Create(&module);
}
