/* Optional C version of one side of an order book: trio_feeds._speedups.BookSide.
 *
 * trio_feeds/_book.py has the pure-Python twin (_PyBookSide) with the same
 * methods and results; tests/test_book.py runs both on random update streams
 * and compares them after every step.  The package works without this module.
 *
 * Layout: two C arrays, keys[] and sizes[], sorted ascending by key with the
 * best level LAST (and a third, cache[], holding each level's (price, size)
 * tuple from the first time top() or best() returns it until the level
 * changes, so consecutive top-N copies share the unchanged levels).  The key is the price on the bid side and -price on the ask
 * side, so "best" is always the largest key.  Book activity clusters at the
 * top, so inserting or deleting there moves only the few levels after it, and
 * a size change is a binary search over contiguous doubles and one store: no
 * hashing, no Python objects until a caller asks for levels.
 *
 *   BookSide(ask_side)          an empty side
 *   .apply(levels)              (price, size) pairs, in order: size 0 deletes
 *                               (a no-op when the price is absent), else sets
 *   .load(levels)               replace everything: a repeated price's last
 *                               size wins, size-0 levels are dropped
 *   .top(n)                     tuple of the n best (price, size), best first;
 *                               all when n < 0
 *   .best()                     the best (price, size), or None
 *   .get(price)                 the size at price, 0.0 when absent
 *   .trim(n)                    keep the n best; returns the removed prices,
 *                               worst first
 *   .clear(), len(side)
 *
 * Prices and sizes are read as C doubles (floats, ints, anything with
 * __float__); a NaN price is refused with ValueError, like the Python twin.
 *
 * Also pairs(price, size, levels): the (price, size) tuples of a list of
 * objects, read through two slot (member) descriptors, e.g. those of the
 * msgspec struct that protocol/okx.py decodes a level into.  Equal to
 * tuple([(price.__get__(x), size.__get__(x)) for x in levels]); items of the
 * descriptors' own class are read at the slot offsets directly.
 *
 * And RecordBuilder(cls, names, params, npos, defaults, missing): a callable
 * that builds an instance of a slotted class (the frozen attrs records)
 * without calling __init__, storing each field at its slot offset.  names are
 * all the fields (slots) in order; params the indices of those the caller
 * passes, the first npos of which may be positional; defaults[i] is field i's
 * default or `missing`.  trio_feeds/_fast.py only uses it for classes whose
 * __init__ does nothing but store its arguments, and checks a trial build
 * against the real constructor.
 *
 * And cut_frames(buf, pos, out, max_message): the payloads of the plain
 * WebSocket data frames at buf[pos:] (the receive path's fast cut,
 * trio_feeds/engine/ws.py, which has the pure-Python twin).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h> /* T_OBJECT_EX (Py_T_OBJECT_EX from 3.12) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    double *keys;  /* ascending, best last */
    double *sizes; /* aligned with keys */
    PyObject **cache; /* aligned with keys: the level's (price, size) tuple once asked
                         for, NULL until then and after the level changes; NULL at and
                         beyond len */
    Py_ssize_t len;
    Py_ssize_t cap;
    int ask;       /* keys hold -price */
} BookSide;

/* ------------------------------------------------------------------ helpers */

static inline int
as_double(PyObject *o, double *out)
{
    if (PyFloat_CheckExact(o)) {
        *out = PyFloat_AS_DOUBLE(o);
        return 0;
    }
    double v = PyFloat_AsDouble(o);
    if (v == -1.0 && PyErr_Occurred())
        return -1;
    *out = v;
    return 0;
}

/* a level as two doubles: a 2-tuple (the fast case) or any 2-item sequence */
static int
read_level(PyObject *level, double *price, double *size)
{
    if (PyTuple_CheckExact(level) && PyTuple_GET_SIZE(level) == 2) {
        if (as_double(PyTuple_GET_ITEM(level, 0), price) < 0 ||
            as_double(PyTuple_GET_ITEM(level, 1), size) < 0)
            return -1;
    }
    else {
        PyObject *pair = PySequence_Tuple(level);
        if (pair == NULL)
            return -1;
        if (PyTuple_GET_SIZE(pair) != 2) {
            PyErr_Format(PyExc_ValueError, "a level must be (price, size), got %zd values",
                         PyTuple_GET_SIZE(pair));
            Py_DECREF(pair);
            return -1;
        }
        int rc = (as_double(PyTuple_GET_ITEM(pair, 0), price) < 0 ||
                  as_double(PyTuple_GET_ITEM(pair, 1), size) < 0)
                     ? -1
                     : 0;
        Py_DECREF(pair);
        if (rc < 0)
            return -1;
    }
    if (isnan(*price)) {
        PyErr_SetString(PyExc_ValueError, "a level's price is NaN");
        return -1;
    }
    return 0;
}

/* the first index whose key is >= k */
static inline Py_ssize_t
lower_bound(const BookSide *s, double k)
{
    Py_ssize_t lo = 0, hi = s->len;
    const double *keys = s->keys;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int
reserve(BookSide *s, Py_ssize_t need)
{
    if (need <= s->cap)
        return 0;
    Py_ssize_t cap = s->cap ? s->cap : 16;
    while (cap < need)
        cap *= 2;
    double *keys = PyMem_Realloc(s->keys, (size_t)cap * sizeof(double));
    if (keys == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    s->keys = keys;
    double *sizes = PyMem_Realloc(s->sizes, (size_t)cap * sizeof(double));
    if (sizes == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    s->sizes = sizes;
    PyObject **cache = PyMem_Realloc(s->cache, (size_t)cap * sizeof(PyObject *));
    if (cache == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(cache + s->cap, 0, (size_t)(cap - s->cap) * sizeof(PyObject *));
    s->cache = cache;
    s->cap = cap;
    return 0;
}

/* drop the cached tuples of [from, to) */
static void
forget(BookSide *s, Py_ssize_t from, Py_ssize_t to)
{
    for (Py_ssize_t j = from; j < to; j++)
        Py_CLEAR(s->cache[j]);
}

static int
apply_level(BookSide *s, double price, double size)
{
    double k = s->ask ? -price : price;
    Py_ssize_t i = lower_bound(s, k);
    int found = i < s->len && s->keys[i] == k;
    if (size != 0.0) { /* NaN counts as non-zero, as it is truthy in Python */
        if (found) {
            s->sizes[i] = size;
            Py_CLEAR(s->cache[i]);
            return 0;
        }
        if (reserve(s, s->len + 1) < 0)
            return -1;
        Py_ssize_t tail = s->len - i;
        if (tail) {
            memmove(s->keys + i + 1, s->keys + i, (size_t)tail * sizeof(double));
            memmove(s->sizes + i + 1, s->sizes + i, (size_t)tail * sizeof(double));
            memmove(s->cache + i + 1, s->cache + i, (size_t)tail * sizeof(PyObject *));
        }
        s->keys[i] = k;
        s->sizes[i] = size;
        s->cache[i] = NULL;
        s->len++;
    }
    else if (found) {
        PyObject *gone = s->cache[i];
        Py_ssize_t tail = s->len - i - 1;
        if (tail) {
            memmove(s->keys + i, s->keys + i + 1, (size_t)tail * sizeof(double));
            memmove(s->sizes + i, s->sizes + i + 1, (size_t)tail * sizeof(double));
            memmove(s->cache + i, s->cache + i + 1, (size_t)tail * sizeof(PyObject *));
        }
        s->len--;
        s->cache[s->len] = NULL;
        Py_XDECREF(gone); /* last: the arrays are consistent again */
    }
    return 0;
}

static PyObject *
level_tuple(const BookSide *s, Py_ssize_t j)
{
    double k = s->keys[j];
    PyObject *price = PyFloat_FromDouble(s->ask ? -k : k);
    if (price == NULL)
        return NULL;
    PyObject *size = PyFloat_FromDouble(s->sizes[j]);
    if (size == NULL) {
        Py_DECREF(price);
        return NULL;
    }
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) {
        Py_DECREF(price);
        Py_DECREF(size);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, price);
    PyTuple_SET_ITEM(pair, 1, size);
    return pair;
}

/* level j's (price, size) tuple, a new reference; made once and kept until level j changes */
static inline PyObject *
cached_level(BookSide *s, Py_ssize_t j)
{
    PyObject *pair = s->cache[j];
    if (pair == NULL) {
        pair = level_tuple(s, j);
        if (pair == NULL)
            return NULL;
        s->cache[j] = pair;
    }
    return Py_NewRef(pair);
}

/* ------------------------------------------------------------------ methods */

static int
BookSide_init(BookSide *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"ask_side", NULL};
    int ask = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "p", kwlist, &ask))
        return -1;
    if (self->cache != NULL)
        forget(self, 0, self->len);
    self->ask = ask;
    self->len = 0;
    return 0;
}

static void
BookSide_dealloc(BookSide *self)
{
    if (self->cache != NULL)
        forget(self, 0, self->len);
    PyMem_Free(self->cache);
    PyMem_Free(self->keys);
    PyMem_Free(self->sizes);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
BookSide_apply(BookSide *self, PyObject *levels)
{
    /* a tuple cannot change under us while we read it; anything else is copied into one */
    PyObject *seq = PyTuple_CheckExact(levels) ? Py_NewRef(levels) : PySequence_Tuple(levels);
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        double price, size;
        if (read_level(PyTuple_GET_ITEM(seq, i), &price, &size) < 0 ||
            apply_level(self, price, size) < 0) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

typedef struct {
    double key;
    double size;
    Py_ssize_t order;
} Entry;

static int
entry_cmp(const void *a, const void *b)
{
    const Entry *x = a, *y = b;
    if (x->key < y->key)
        return -1;
    if (x->key > y->key)
        return 1;
    return (x->order > y->order) - (x->order < y->order);
}

static PyObject *
BookSide_load(BookSide *self, PyObject *levels)
{
    PyObject *seq = PyTuple_CheckExact(levels) ? Py_NewRef(levels) : PySequence_Tuple(levels);
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    Entry *entries = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Entry));
    if (entries == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        double price, size;
        if (read_level(PyTuple_GET_ITEM(seq, i), &price, &size) < 0) {
            PyMem_Free(entries);
            Py_DECREF(seq);
            return NULL;
        }
        entries[i].key = self->ask ? -price : price;
        entries[i].size = size;
        entries[i].order = i;
    }
    Py_DECREF(seq);
    qsort(entries, (size_t)n, sizeof(Entry), entry_cmp);
    if (reserve(self, n) < 0) {
        PyMem_Free(entries);
        return NULL;
    }
    forget(self, 0, self->len); /* every entry becomes NULL: the new levels have none */
    Py_ssize_t len = 0;
    for (Py_ssize_t i = 0; i < n;) {
        /* a run of equal keys: the first one's key (as a dict keeps its first key),
           the last one's size */
        Py_ssize_t j = i;
        while (j + 1 < n && entries[j + 1].key == entries[i].key)
            j++;
        if (entries[j].size != 0.0) {
            self->keys[len] = entries[i].key;
            self->sizes[len] = entries[j].size;
            len++;
        }
        i = j + 1;
    }
    self->len = len;
    PyMem_Free(entries);
    Py_RETURN_NONE;
}

static PyObject *
BookSide_top(BookSide *self, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0 || n > self->len)
        n = self->len;
    PyObject *out = PyTuple_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = cached_level(self, self->len - 1 - i);
        if (pair == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, pair);
    }
    return out;
}

static PyObject *
BookSide_best(BookSide *self, PyObject *Py_UNUSED(ignored))
{
    if (self->len == 0)
        Py_RETURN_NONE;
    return cached_level(self, self->len - 1);
}

static PyObject *
BookSide_get(BookSide *self, PyObject *arg)
{
    double price;
    if (as_double(arg, &price) < 0)
        return NULL;
    double k = self->ask ? -price : price;
    Py_ssize_t i = lower_bound(self, k);
    if (i < self->len && self->keys[i] == k)
        return PyFloat_FromDouble(self->sizes[i]);
    return PyFloat_FromDouble(0.0);
}

static PyObject *
BookSide_trim(BookSide *self, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0) {
        PyErr_Format(PyExc_ValueError, "trim(%zd): the number of levels to keep must be >= 0", n);
        return NULL;
    }
    Py_ssize_t excess = self->len - n;
    if (excess <= 0)
        return PyList_New(0);
    PyObject *removed = PyList_New(excess);
    if (removed == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < excess; i++) {
        double k = self->keys[i];
        PyObject *price = PyFloat_FromDouble(self->ask ? -k : k);
        if (price == NULL) {
            Py_DECREF(removed);
            return NULL;
        }
        PyList_SET_ITEM(removed, i, price);
    }
    forget(self, 0, excess);
    memmove(self->keys, self->keys + excess, (size_t)n * sizeof(double));
    memmove(self->sizes, self->sizes + excess, (size_t)n * sizeof(double));
    memmove(self->cache, self->cache + excess, (size_t)n * sizeof(PyObject *));
    memset(self->cache + n, 0, (size_t)excess * sizeof(PyObject *));
    self->len = n;
    return removed;
}

static PyObject *
BookSide_clear(BookSide *self, PyObject *Py_UNUSED(ignored))
{
    if (self->cache != NULL)
        forget(self, 0, self->len);
    self->len = 0;
    Py_RETURN_NONE;
}

static Py_ssize_t
BookSide_len(BookSide *self)
{
    return self->len;
}

static PyMethodDef BookSide_methods[] = {
    {"apply", (PyCFunction)BookSide_apply, METH_O,
     "apply(levels): (price, size) pairs in order; size 0 deletes."},
    {"load", (PyCFunction)BookSide_load, METH_O,
     "load(levels): replace all levels (a repeated price: last wins; size 0 dropped)."},
    {"top", (PyCFunction)BookSide_top, METH_O,
     "top(n): the n best (price, size), best first; all when n < 0."},
    {"best", (PyCFunction)BookSide_best, METH_NOARGS, "best(): the best (price, size) or None."},
    {"get", (PyCFunction)BookSide_get, METH_O, "get(price): the size at price, 0.0 if absent."},
    {"trim", (PyCFunction)BookSide_trim, METH_O,
     "trim(n): keep the n best levels; return the removed prices, worst first."},
    {"clear", (PyCFunction)BookSide_clear, METH_NOARGS, "clear(): remove every level."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods BookSide_as_sequence = {
    .sq_length = (lenfunc)BookSide_len,
};

static PyTypeObject BookSideType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "trio_feeds._speedups.BookSide",
    .tp_doc = "One side of an order book: sorted C arrays of prices and sizes, best last.",
    .tp_basicsize = sizeof(BookSide),
    .tp_itemsize = 0,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)BookSide_init,
    .tp_dealloc = (destructor)BookSide_dealloc,
    .tp_methods = BookSide_methods,
    .tp_as_sequence = &BookSide_as_sequence,
};

/* ------------------------------------------------------------------------ pairs */

static int
slot_offset(PyObject *descr, PyTypeObject **owner, Py_ssize_t *offset)
{
    if (!Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "pairs(): expected a slot (member) descriptor, got %.100s",
                     Py_TYPE(descr)->tp_name);
        return -1;
    }
    PyMemberDef *def = ((PyMemberDescrObject *)descr)->d_member;
    *owner = PyDescr_TYPE(descr);
    /* Only plain object slots are read directly; any other kind goes through
     * the descriptor (offset -1). */
    *offset = (def->type == T_OBJECT_EX && !(def->flags & READ_RESTRICTED)) ? def->offset : -1;
    return 0;
}

static inline PyObject *
read_slot(PyObject *descr, PyObject *item, PyTypeObject *owner, Py_ssize_t offset)
{
    if (offset >= 0 && Py_IS_TYPE(item, owner)) {
        PyObject *v = *(PyObject **)((char *)item + offset);
        if (v != NULL)
            return Py_NewRef(v);
    }
    /* the descriptor itself: raises what `descr.__get__(item)` raises */
    return Py_TYPE(descr)->tp_descr_get(descr, item, (PyObject *)Py_TYPE(item));
}

static PyObject *
speedups_pairs(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "pairs() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *pd = args[0], *sd = args[1], *levels = args[2];
    if (!PyList_Check(levels)) {
        PyErr_Format(PyExc_TypeError, "pairs(): levels must be a list, got %.100s",
                     Py_TYPE(levels)->tp_name);
        return NULL;
    }
    PyTypeObject *powner, *sowner;
    Py_ssize_t poff, soff;
    if (slot_offset(pd, &powner, &poff) < 0 || slot_offset(sd, &sowner, &soff) < 0)
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(levels);
    PyObject *out = PyTuple_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i >= PyList_GET_SIZE(levels)) {
            PyErr_SetString(PyExc_RuntimeError, "pairs(): the list changed size");
            goto error;
        }
        PyObject *item = PyList_GET_ITEM(levels, i);
        Py_INCREF(item);
        PyObject *p = read_slot(pd, item, powner, poff);
        PyObject *q = p == NULL ? NULL : read_slot(sd, item, sowner, soff);
        Py_DECREF(item);
        if (q == NULL) {
            Py_XDECREF(p);
            goto error;
        }
        PyObject *pair = PyTuple_New(2);
        if (pair == NULL) {
            Py_DECREF(p);
            Py_DECREF(q);
            goto error;
        }
        PyTuple_SET_ITEM(pair, 0, p);
        PyTuple_SET_ITEM(pair, 1, q);
        PyTuple_SET_ITEM(out, i, pair);
    }
    return out;
error:
    Py_DECREF(out);
    return NULL;
}

/* ------------------------------------------------------------------------ RecordBuilder */

#define MAX_FIELDS 64

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyTypeObject *cls;
    Py_ssize_t nfields;
    Py_ssize_t nparams;
    Py_ssize_t npos;
    Py_ssize_t offsets[MAX_FIELDS];
    Py_ssize_t params[MAX_FIELDS]; /* field index of each parameter */
    PyObject *names[MAX_FIELDS];    /* owned */
    PyObject *defaults[MAX_FIELDS]; /* owned, NULL: required */
} RecordBuilder;

static PyObject *
RecordBuilder_call(RecordBuilder *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *vals[MAX_FIELDS];
    const char *cls = self->cls->tp_name;
    if (nargs > self->npos) {
        PyErr_Format(PyExc_TypeError, "%.100s() takes %zd positional arguments but %zd were given",
                     cls, self->npos, nargs);
        return NULL;
    }
    memset(vals, 0, sizeof(PyObject *) * (size_t)self->nfields);
    for (Py_ssize_t i = 0; i < nargs; i++)
        vals[self->params[i]] = args[i];
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t j = 0; j < nkw; j++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, j);
        Py_ssize_t found = -1;
        for (Py_ssize_t k = 0; k < self->nparams && found < 0; k++)
            if (self->names[self->params[k]] == key)
                found = self->params[k];
        for (Py_ssize_t k = 0; k < self->nparams && found < 0; k++) {
            int eq = PyObject_RichCompareBool(self->names[self->params[k]], key, Py_EQ);
            if (eq < 0)
                return NULL;
            if (eq)
                found = self->params[k];
        }
        if (found < 0) {
            PyErr_Format(PyExc_TypeError, "%.100s() got an unexpected keyword argument '%U'", cls,
                         key);
            return NULL;
        }
        if (vals[found] != NULL) {
            PyErr_Format(PyExc_TypeError, "%.100s() got multiple values for argument '%U'", cls,
                         key);
            return NULL;
        }
        vals[found] = args[nargs + j];
    }
    for (Py_ssize_t f = 0; f < self->nfields; f++) {
        if (vals[f] == NULL) {
            vals[f] = self->defaults[f];
            if (vals[f] == NULL) {
                PyErr_Format(PyExc_TypeError, "%.100s() missing required argument: '%U'", cls,
                             self->names[f]);
                return NULL;
            }
        }
    }
    PyObject *o = self->cls->tp_alloc(self->cls, 0);
    if (o == NULL)
        return NULL;
    for (Py_ssize_t f = 0; f < self->nfields; f++)
        *(PyObject **)((char *)o + self->offsets[f]) = Py_NewRef(vals[f]);
    return o;
}

static void
RecordBuilder_dealloc(RecordBuilder *self)
{
    for (Py_ssize_t f = 0; f < self->nfields; f++) {
        Py_XDECREF(self->names[f]);
        Py_XDECREF(self->defaults[f]);
    }
    Py_XDECREF(self->cls);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
RecordBuilder_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *cls, *names, *params, *defaults, *missing;
    Py_ssize_t npos;
    static char *kwlist[] = {"cls", "names", "params", "npos", "defaults", "missing", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!O!nO!O:RecordBuilder", kwlist,
                                     &PyType_Type, &cls, &PyTuple_Type, &names, &PyTuple_Type,
                                     &params, &npos, &PyTuple_Type, &defaults, &missing))
        return NULL;
    PyTypeObject *t = (PyTypeObject *)cls;
    Py_ssize_t n = PyTuple_GET_SIZE(names), np = PyTuple_GET_SIZE(params);
    if (n > MAX_FIELDS || PyTuple_GET_SIZE(defaults) != n || np > n || npos < 0 || npos > np) {
        PyErr_SetString(PyExc_ValueError, "RecordBuilder: inconsistent field tables");
        return NULL;
    }
    if (t->tp_new != PyBaseObject_Type.tp_new || t->tp_alloc == NULL) {
        PyErr_Format(PyExc_TypeError, "RecordBuilder: %.100s has its own __new__", t->tp_name);
        return NULL;
    }
    RecordBuilder *self = (RecordBuilder *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->vectorcall = (vectorcallfunc)RecordBuilder_call;
    self->cls = (PyTypeObject *)Py_NewRef(cls);
    for (Py_ssize_t f = 0; f < n; f++) {
        PyObject *name = PyTuple_GET_ITEM(names, f);
        PyObject *d = PyUnicode_Check(name) ? PyObject_GetAttr(cls, name) : NULL;
        if (d == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "RecordBuilder: field names must be str");
            goto error;
        }
        int ok = Py_IS_TYPE(d, &PyMemberDescr_Type) && PyDescr_TYPE(d) == t &&
                 ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
        Py_ssize_t off = ok ? ((PyMemberDescrObject *)d)->d_member->offset : -1;
        Py_DECREF(d);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "RecordBuilder: %.100s.%U is not an object slot",
                         t->tp_name, name);
            goto error;
        }
        self->offsets[f] = off;
        self->names[f] = Py_NewRef(name);
        PyObject *dflt = PyTuple_GET_ITEM(defaults, f);
        self->defaults[f] = dflt == missing ? NULL : Py_NewRef(dflt);
        self->nfields = f + 1;
    }
    for (Py_ssize_t k = 0; k < np; k++) {
        Py_ssize_t idx = PyLong_AsSsize_t(PyTuple_GET_ITEM(params, k));
        if (idx == -1 && PyErr_Occurred())
            goto error;
        if (idx < 0 || idx >= n) {
            PyErr_SetString(PyExc_ValueError, "RecordBuilder: a parameter index is out of range");
            goto error;
        }
        self->params[k] = idx;
    }
    self->nparams = np;
    self->npos = npos;
    return (PyObject *)self;
error:
    Py_DECREF(self);
    return NULL;
}

static PyTypeObject RecordBuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "trio_feeds._speedups.RecordBuilder",
    .tp_doc = "Builds instances of a slotted class by storing each field at its slot offset.",
    .tp_basicsize = sizeof(RecordBuilder),
    .tp_itemsize = 0,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = RecordBuilder_new,
    .tp_dealloc = (destructor)RecordBuilder_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(RecordBuilder, vectorcall),
};

/* ------------------------------------------------------------ cut_frames */

/* cut_frames(buf, pos, out, max_message) -> int

   The plain WebSocket data frames at the start of buf[pos:], as a server sends
   them (FIN text or binary, no RSV bits, unmasked, at most max_message bytes
   of payload), each appended to out as bytes; returns the position of the
   first byte not consumed: the end of buf, an incomplete frame, or a frame of
   any other kind (control, fragment, masked, too big) for the caller's full
   protocol to handle.  trio_feeds/engine/ws.py has the pure-Python twin. */
static PyObject *
speedups_cut_frames(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "cut_frames(buf, pos, out, max_message)");
        return NULL;
    }
    PyObject *out = args[2];
    if (!PyList_Check(out)) {
        PyErr_SetString(PyExc_TypeError, "cut_frames: out must be a list");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    unsigned long long max_message = PyLong_AsUnsignedLongLong(args[3]);
    if (max_message == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    if (pos < 0)
        pos = 0;
    while (n - pos >= 2) {
        unsigned char b0 = b[pos], b1 = b[pos + 1];
        if ((b0 != 0x81 && b0 != 0x82) || (b1 & 0x80))
            break; /* not a plain data frame: the caller's protocol decides */
        unsigned long long length = b1 & 0x7F;
        Py_ssize_t head = 2;
        if (length == 126) {
            if (n - pos < 4)
                break;
            length = ((unsigned long long)b[pos + 2] << 8) | b[pos + 3];
            head = 4;
        }
        else if (length == 127) {
            if (n - pos < 10)
                break;
            length = 0;
            for (int i = 2; i < 10; i++)
                length = (length << 8) | b[pos + i];
            head = 10;
        }
        if (length > max_message || length > (unsigned long long)(n - pos - head))
            break; /* too big (the caller fails the connection) or not all here yet */
        PyObject *payload =
            PyBytes_FromStringAndSize((const char *)b + pos + head, (Py_ssize_t)length);
        if (payload == NULL || PyList_Append(out, payload) < 0) {
            Py_XDECREF(payload);
            PyBuffer_Release(&view);
            return NULL;
        }
        Py_DECREF(payload);
        pos += head + (Py_ssize_t)length;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(pos);
}

static PyMethodDef module_methods[] = {
    {"pairs", (PyCFunction)(void (*)(void))speedups_pairs, METH_FASTCALL,
     "pairs(price, size, levels): tuple of (price, size) read through two slot descriptors."},
    {"cut_frames", (PyCFunction)(void (*)(void))speedups_cut_frames, METH_FASTCALL,
     "cut_frames(buf, pos, out, max_message): append the plain data frames' payloads, "
     "return where they end."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "trio_feeds._speedups",
    "Optional C version of an order book side (see trio_feeds/_book.py).", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&BookSideType) < 0 || PyType_Ready(&RecordBuilderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "BookSide", (PyObject *)&BookSideType) < 0 ||
        PyModule_AddObjectRef(m, "RecordBuilder", (PyObject *)&RecordBuilderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
