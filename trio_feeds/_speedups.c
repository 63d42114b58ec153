/* Optional C version of one side of an order book: trio_feeds._speedups.BookSide.
 *
 * trio_feeds/_book.py has the pure-Python twin (_PyBookSide) with the same
 * methods and results; tests/test_book.py runs both on random update streams
 * and compares them after every step.  The package works without this module.
 *
 * Layout: two C arrays, keys[] and sizes[], sorted ascending by key with the
 * best level LAST.  The key is the price on the bid side and -price on the ask
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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    double *keys;  /* ascending, best last */
    double *sizes; /* aligned with keys */
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
    s->cap = cap;
    return 0;
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
            return 0;
        }
        if (reserve(s, s->len + 1) < 0)
            return -1;
        Py_ssize_t tail = s->len - i;
        if (tail) {
            memmove(s->keys + i + 1, s->keys + i, (size_t)tail * sizeof(double));
            memmove(s->sizes + i + 1, s->sizes + i, (size_t)tail * sizeof(double));
        }
        s->keys[i] = k;
        s->sizes[i] = size;
        s->len++;
    }
    else if (found) {
        Py_ssize_t tail = s->len - i - 1;
        if (tail) {
            memmove(s->keys + i, s->keys + i + 1, (size_t)tail * sizeof(double));
            memmove(s->sizes + i, s->sizes + i + 1, (size_t)tail * sizeof(double));
        }
        s->len--;
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

/* ------------------------------------------------------------------ methods */

static int
BookSide_init(BookSide *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"ask_side", NULL};
    int ask = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "p", kwlist, &ask))
        return -1;
    self->ask = ask;
    self->len = 0;
    return 0;
}

static void
BookSide_dealloc(BookSide *self)
{
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
        PyObject *pair = level_tuple(self, self->len - 1 - i);
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
    return level_tuple(self, self->len - 1);
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
    memmove(self->keys, self->keys + excess, (size_t)n * sizeof(double));
    memmove(self->sizes, self->sizes + excess, (size_t)n * sizeof(double));
    self->len = n;
    return removed;
}

static PyObject *
BookSide_clear(BookSide *self, PyObject *Py_UNUSED(ignored))
{
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

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "trio_feeds._speedups",
    "Optional C version of an order book side (see trio_feeds/_book.py).", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&BookSideType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "BookSide", (PyObject *)&BookSideType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
