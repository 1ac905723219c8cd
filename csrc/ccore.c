/* The compiled core of the per-answer analysis: token hashes, n-gram hashes, seq-rep counts,
 * shingle sets, MinHash band keys and hashed-feature embedding rows of a batch of answers.
 *
 * Every value is bit-for-bit what the numpy code in collapse_otel/hash_core.py computes (that
 * code is the fallback and the test oracle); this file only does it in one pass per answer, with
 * the interpreter lock released, so the host's threads keep running while a batch is analysed.
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

static PyMethodDef methods[] = {
    {"batch", py_batch, METH_VARARGS, batch_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ccore",
    "The compiled core of collapse-otel's per-answer analysis (see collapse_otel.hash_core).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ccore(void) {
    init_word_bytes();
    return PyModule_Create(&module);
}
