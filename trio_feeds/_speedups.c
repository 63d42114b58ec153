/* Optional C versions of OrderBook's two hot loops (trio_feeds/_book.py).
 *
 * A book side is a dict price -> size plus a list of keys sorted ascending
 * with the best level last (bids store price, asks -price).  These
 * functions do exactly what the pure-Python loops in _book.py do, element for
 * element; tests/test_book.py checks them against each other on random
 * update streams.  The package works without this module (pure Python).
 *
 *   apply_side(sizes, keys, levels, negate) -> None
 *       for price, size in levels:
 *           if size: insert the key if the price is new; sizes[price] = size
 *           elif price in sizes: delete it from both
 *   top_side(sizes, keys, n, negate) -> tuple of (price, size)
 *       the n best levels, best first: the last n keys backwards (all when n < 0)
 *
 * Keys are compared as C doubles (every key is a float, or an int the
 * snapshot loader put there; PyFloat_AsDouble reads both).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static inline int
key_value(PyObject *item, double *out)
{
    if (PyFloat_CheckExact(item)) {
        *out = PyFloat_AS_DOUBLE(item);
        return 0;
    }
    double v = PyFloat_AsDouble(item);
    if (v == -1.0 && PyErr_Occurred())
        return -1;
    *out = v;
    return 0;
}

/* bisect_left (right == 0) or bisect_right (right == 1, what insort uses) over a
 * list of numbers; -1 on error */
static Py_ssize_t
bisect(PyObject *keys, double x, int right)
{
    Py_ssize_t lo = 0, hi = PyList_GET_SIZE(keys);
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        double v;
        if (key_value(PyList_GET_ITEM(keys, mid), &v) < 0)
            return -1;
        if (right ? !(x < v) : v < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int
apply_one(PyObject *sizes, PyObject *keys, PyObject *price, PyObject *size, int negate)
{
    int nonzero = PyFloat_CheckExact(size) ? PyFloat_AS_DOUBLE(size) != 0.0 : PyObject_IsTrue(size);
    if (nonzero < 0)
        return -1;
    if (nonzero) {
        /* one dict lookup: the store itself tells whether the price is new */
        Py_ssize_t before = PyDict_GET_SIZE(sizes);
        if (PyDict_SetItem(sizes, price, size) < 0)
            return -1;
        if (PyDict_GET_SIZE(sizes) == before)
            return 0; /* a size change: the keys stay as they are */
        double p;
        if (key_value(price, &p) < 0)
            return -1;
        PyObject *key;
        if (negate) {
            p = -p;
            key = PyFloat_FromDouble(p);
            if (key == NULL)
                return -1;
        }
        else {
            key = Py_NewRef(price);
        }
        Py_ssize_t i = bisect(keys, p, 1);
        int rc = i < 0 ? -1 : PyList_Insert(keys, i, key);
        Py_DECREF(key);
        return rc;
    }
    int present = PyDict_Contains(sizes, price);
    if (present <= 0)
        return present; /* error, or deleting a level we do not have: a no-op */
    double p;
    if (key_value(price, &p) < 0)
        return -1;
    if (PyDict_DelItem(sizes, price) < 0)
        return -1;
    Py_ssize_t i = bisect(keys, negate ? -p : p, 0);
    if (i < 0)
        return -1;
    if (i >= PyList_GET_SIZE(keys)) {
        PyErr_SetString(PyExc_IndexError, "list assignment index out of range");
        return -1;
    }
    return PyList_SetSlice(keys, i, i + 1, NULL);
}

static PyObject *
apply_side(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "apply_side(sizes, keys, levels, negate)");
        return NULL;
    }
    PyObject *sizes = args[0], *keys = args[1], *levels = args[2];
    if (!PyDict_CheckExact(sizes) || !PyList_CheckExact(keys)) {
        PyErr_SetString(PyExc_TypeError, "apply_side: sizes must be a dict, keys a list");
        return NULL;
    }
    int negate = PyObject_IsTrue(args[3]);
    if (negate < 0)
        return NULL;
    /* a tuple cannot change under us while we iterate; anything else is copied into one */
    PyObject *seq = PyTuple_CheckExact(levels) ? Py_NewRef(levels) : PySequence_Tuple(levels);
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    PyObject **items = &PyTuple_GET_ITEM(seq, 0);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *level = items[i];
        int rc;
        if (PyTuple_CheckExact(level) && PyTuple_GET_SIZE(level) == 2) {
            rc = apply_one(sizes, keys, PyTuple_GET_ITEM(level, 0), PyTuple_GET_ITEM(level, 1),
                           negate);
        }
        else {
            /* any other pair: unpack it like `for price, size in levels` does */
            PyObject *pair = PySequence_Tuple(level);
            if (pair == NULL) {
                Py_DECREF(seq);
                return NULL;
            }
            if (PyTuple_GET_SIZE(pair) != 2) {
                PyErr_Format(PyExc_ValueError,
                             "a level must be (price, size), got %zd values",
                             PyTuple_GET_SIZE(pair));
                Py_DECREF(pair);
                Py_DECREF(seq);
                return NULL;
            }
            rc = apply_one(sizes, keys, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1),
                           negate);
            Py_DECREF(pair);
        }
        if (rc < 0) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

static PyObject *
top_side(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "top_side(sizes, keys, n, negate)");
        return NULL;
    }
    PyObject *sizes = args[0], *keys = args[1];
    if (!PyDict_CheckExact(sizes) || !PyList_CheckExact(keys)) {
        PyErr_SetString(PyExc_TypeError, "top_side: sizes must be a dict, keys a list");
        return NULL;
    }
    Py_ssize_t n = PyLong_AsSsize_t(args[2]);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    int negate = PyObject_IsTrue(args[3]);
    if (negate < 0)
        return NULL;
    Py_ssize_t len = PyList_GET_SIZE(keys);
    if (n < 0 || n > len)
        n = len;
    PyObject *out = PyTuple_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key = PyList_GET_ITEM(keys, len - 1 - i);
        PyObject *price;
        if (negate) {
            price = PyNumber_Negative(key);
            if (price == NULL)
                goto error;
        }
        else {
            price = Py_NewRef(key);
        }
        PyObject *size = PyDict_GetItemWithError(sizes, price); /* borrowed */
        if (size == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetObject(PyExc_KeyError, price);
            Py_DECREF(price);
            goto error;
        }
        PyObject *pair = PyTuple_New(2);
        if (pair == NULL) {
            Py_DECREF(price);
            goto error;
        }
        PyTuple_SET_ITEM(pair, 0, price);
        PyTuple_SET_ITEM(pair, 1, Py_NewRef(size));
        PyTuple_SET_ITEM(out, i, pair);
    }
    return out;
error:
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef methods[] = {
    {"apply_side", (PyCFunction)(void (*)(void))apply_side, METH_FASTCALL,
     "apply_side(sizes, keys, levels, negate): apply (price, size) levels to one book side."},
    {"top_side", (PyCFunction)(void (*)(void))top_side, METH_FASTCALL,
     "top_side(sizes, keys, n, negate): the n best (price, size) levels of one side."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "trio_feeds._speedups",
    "Optional C versions of OrderBook's hot loops.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
