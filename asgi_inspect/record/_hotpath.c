/* The recorder's common path in C: the wrapped receive() and send() of an HTTP exchange whose
 * messages are kept whole, and the append of their records to the pending batch.
 *
 * It is the closures of Inspector.__call__ (record/middleware.py), step for step: the same
 * checks in the same order, the same six-item records encoded by the batch's own msgspec
 * encoder into the batch's own buffer, and the same hand-over to the Python _Tap at the first
 * event the common path does not cover (then tap.record()/tap.failed() do the rest). Python
 * owns every rule that is not on that path: configure() is given its constants and helpers.
 *
 * A call of the wrapped receive()/send() returns a Call: a C awaitable (am_await returns it,
 * am_send/send/throw/close drive the inner awaitable) rather than a coroutine, so no frame is
 * made per call. Exceptions, BaseExceptions and cancellation pass through as the same objects
 * with their tracebacks: they are fetched, shown to the tap, and restored untouched.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#if PY_VERSION_HEX >= 0x030D0000
#define _PyObject_LookupAttr PyObject_GetOptionalAttr
static PyObject *now_ns(void) {
    PyTime_t t;
    (void)PyTime_PerfCounterRaw(&t);
    return PyLong_FromLongLong((long long)t);
}
#else
static PyObject *now_ns(void) { return PyLong_FromLongLong((long long)_PyTime_GetPerfCounter()); }
#endif

/* What configure() was given: Python's own constants and helpers (one source of truth). */
static PyObject *TAP = NULL;            /* _Tap(inspector, xid, seq, left, budget_in, budget_out) */
static PyObject *HEADERS_LISTED = NULL; /* _headers_listed(batch, xid, message) */
static PyObject *HEADED = NULL;         /* frozenset of the sends whose headers may be iterables */
static PyObject *RECEIVED = NULL, *SENT = NULL, *WAY_IN = NULL, *WAY_OUT = NULL, *OK = NULL;
static PyObject *S_REQUEST = NULL, *S_START = NULL, *S_BODY = NULL;
static PyObject *OPEN = NULL, *CLOSED = NULL;
static PyObject *SCOPE_SNAPSHOT = NULL; /* _scope_snapshot(scope): lifespan state as names */
static PyObject *SCOPE_ADDED = NULL;    /* _scope_added(scope, keys): what the app added */
static Py_ssize_t MAX_BUFFER = 0;
static PyObject *MINUS_ONE = NULL, *ONE = NULL;

/* Interned names. */
static PyObject *s_type, *s_body, *s_headers, *s_get, *s_count, *s_timer, *s_schedule, *s_flush,
    *s_recover, *s_error, *s_record, *s_failed, *s_throw, *s_close, *s_encode_into, *s_buffer,
    *s_max_body, *s_max_events, *s_ids, *s_app, *s_check_timer, *s_state, *s_receive, *s_send;

/* ---------------------------------------------------------------------------------------- */
/* Recorder: one per Inspector; the batch's encoder and buffer, fetched once. */

typedef struct {
    PyObject_HEAD
    PyObject *inspector;
    PyObject *batch;
    PyObject *encode_into; /* batch._encode_into: the bound msgspec Encoder.encode_into */
    PyObject *buffer;      /* batch._buffer: the pending batch, one bytearray for its life */
    PyObject *ids;         /* inspector._ids: exchange numbers */
    /* The batch's and the inspector's attributes (their __dict__): read and written directly,
     * as the attribute lookups of the Python path would find them, for less. */
    PyObject *batch_dict, *inspector_dict;
} Recorder;

/* Exchange: one per HTTP exchange on the common path: the closures' variables. */
typedef struct {
    PyObject_HEAD
    Recorder *recorder;
    PyObject *xid;
    PyObject *receive; /* the server's */
    PyObject *send;
    PyObject *tap; /* None until handed over */
    Py_ssize_t seq, left, budget[2];
} Exchange;

/* An awaitable of ours drives an inner one (the server's receive()/send(), or the app's call)
 * as `await` would, and has its own steps to start it, and to record how it ended. */
typedef struct {
    int (*start)(PyObject *self);                                 /* -1: failed, set */
    PySendResult (*finish)(PyObject *self, PyObject *value, PyObject **result);
    PySendResult (*fail)(PyObject *self);                         /* the error set now */
} Steps;

#define DRIVEN_HEAD \
    PyObject_HEAD   \
    const Steps *steps; \
    PyObject *inner; /* the inner awaitable's iterator, once started */ \
    int state;       /* NEW, RUNNING (awaiting the inner one), DONE */

typedef struct {
    DRIVEN_HEAD
} Driven;

/* Call: one receive() or send() in progress. */
typedef struct {
    DRIVEN_HEAD
    Exchange *exchange;
    PyObject *message; /* send: what goes to the server; receive: NULL */
    PyObject *kind;    /* send: the message's type, or NULL when it could not be read */
    PyObject *t;       /* perf_counter_ns() at the call */
    int way;           /* 0: receive (in), 1: send (out) */
} Call;

/* Run: one HTTP exchange recorded whole in C, from the scope to the app's return. */
typedef struct {
    DRIVEN_HEAD
    Recorder *recorder;
    PyObject *scope, *receive, *send;
    Exchange *flow; /* NULL: the exchange could not be opened, the app runs unrecorded */
    Py_ssize_t keys; /* the scope's keys at the start */
} Run;

enum { NEW = 0, RUNNING = 1, DONE = 2 };

static PyTypeObject RecorderType, ExchangeType, CallType, RunType;

/* ---------------------------------------------------------------------------------------- */
/* The batch: Batcher.add, inlined. */

/* The exception set now, fetched whole (normalized, its traceback attached). */
static void fetch(PyObject **type, PyObject **value, PyObject **tb) {
    PyErr_Fetch(type, value, tb);
    PyErr_NormalizeException(type, value, tb);
    if (*tb != NULL) PyException_SetTraceback(*value, *tb);
}

/* An attribute, read from its object's __dict__ where it is (a new reference); else looked up
 * as Python would (a class attribute, a property of a subclass). */
static PyObject *attribute(PyObject *owner, PyObject *dict, PyObject *name) {
    PyObject *value = PyDict_GetItemWithError(dict, name);
    if (value != NULL) return Py_NewRef(value);
    return PyErr_Occurred() ? NULL : PyObject_GetAttr(owner, name);
}

/* Encode one record into the pending batch, exactly as Batcher.add does. -1 with an exception
 * set only where Batcher.add itself would raise (its timer or flush failing). */
static int batch_add(Recorder *r, PyObject *record) {
    Py_ssize_t start = PyByteArray_GET_SIZE(r->buffer);
    PyObject *args[3] = {record, r->buffer, MINUS_ONE};
    PyObject *done = PyObject_Vectorcall(r->encode_into, args, 3, NULL);
    if (done == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) return -1;
        PyObject *type, *value, *tb;
        fetch(&type, &value, &tb);
        PyObject *at = PyLong_FromSsize_t(start);
        PyObject *out = at ? PyObject_CallMethodObjArgs(r->batch, s_recover, record, at, value,
                                                        NULL) : NULL;
        Py_XDECREF(at);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        if (out == NULL) return -1;
        Py_DECREF(out);
        return 0;
    }
    Py_DECREF(done);
    PyObject *count = attribute(r->batch, r->batch_dict, s_count);
    if (count == NULL) return -1;
    PyObject *more = PyNumber_Add(count, ONE);
    Py_DECREF(count);
    if (more == NULL) return -1;
    int failed = PyDict_SetItem(r->batch_dict, s_count, more);
    Py_DECREF(more);
    if (failed) return -1;
    PyObject *timer = attribute(r->batch, r->batch_dict, s_timer);
    if (timer == NULL) return -1;
    PyObject *out = NULL;
    if (timer == Py_None) out = PyObject_CallMethodNoArgs(r->batch, s_schedule);
    else if (start > MAX_BUFFER) out = PyObject_CallMethodNoArgs(r->batch, s_flush);
    else out = Py_NewRef(Py_None);
    Py_DECREF(timer);
    if (out == NULL) return -1;
    Py_DECREF(out);
    return 0;
}

/* An exception inside the recorder: counted by the batch (batch.error), never raised into the
 * request. Only Exceptions: a BaseException goes on, as from the Python path's `except
 * Exception`. Returns 0 when handled, -1 when the error must go on. */
static int count_error(Recorder *r) {
    if (!PyErr_ExceptionMatches(PyExc_Exception)) return -1;
    PyObject *type, *value, *tb;
    fetch(&type, &value, &tb);
    PyObject *out = PyObject_CallMethodOneArg(r->batch, s_error, value);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    if (out == NULL) return -1;
    Py_DECREF(out);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Messages: the Python path reads them with .get(); a plain dict is read directly. */

static PyObject *get(PyObject *message, PyObject *key) {
    if (PyDict_CheckExact(message)) {
        PyObject *value = PyDict_GetItemWithError(message, key);
        if (value != NULL) return Py_NewRef(value);
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    return PyObject_CallMethodOneArg(message, s_get, key);
}

/* `value == text`, as the Python path compares (any type on the left). -1 on error. */
static int equals(PyObject *value, PyObject *text) {
    if (PyUnicode_CheckExact(value)) return PyUnicode_Compare(value, text) == 0;
    PyObject *same = PyObject_RichCompare(value, text, Py_EQ);
    if (same == NULL) return -1;
    int truth = PyObject_IsTrue(same);
    Py_DECREF(same);
    return truth;
}

/* `len(message.get("body") or b"")`. -1 on error. */
static Py_ssize_t body_size(PyObject *message) {
    PyObject *body = get(message, s_body);
    if (body == NULL) return -1;
    int truth = PyObject_IsTrue(body);
    Py_ssize_t n = truth < 0 ? -1 : truth ? PyObject_Length(body) : 0;
    Py_DECREF(body);
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* The hand-over to the general recorder. */

/* The exchange's _Tap, made at the first need from the counters so far. Borrowed. */
static PyObject *taken(Exchange *ex) {
    if (ex->tap != Py_None) return ex->tap;
    PyObject *tap = PyObject_CallFunction(TAP, "OOnnnn", ex->recorder->inspector, ex->xid,
                                          ex->seq, ex->left, ex->budget[0], ex->budget[1]);
    if (tap == NULL) return NULL;
    Py_SETREF(ex->tap, tap);
    return tap;
}

/* A call returned: keep the message whole on the common path, or hand it to the tap. What
 * fails in here is the recorder's error, counted; the request goes on. */
static int returned(Call *call, PyObject *message) {
    Exchange *ex = call->exchange;
    PyObject *t_return = now_ns();
    if (t_return == NULL) return count_error(ex->recorder);
    Py_ssize_t n = -1;
    int way = call->way;
    if (way == 0) {
        PyObject *kind = get(message, s_type);
        int is_request = kind == NULL ? -1 : equals(kind, S_REQUEST);
        Py_XDECREF(kind);
        if (is_request < 0) goto error;
        if (is_request && (n = body_size(message)) < 0) goto error;
    }
    else if (call->kind != NULL) {
        int is_body = equals(call->kind, S_BODY);
        if (is_body < 0) goto error;
        if (is_body) {
            if ((n = body_size(message)) < 0) goto error;
        }
        else {
            int is_start = equals(call->kind, S_START);
            if (is_start < 0) goto error;
            n = is_start ? 0 : -1;
        }
    }
    if (ex->tap == Py_None && 0 <= n && n <= ex->budget[way] && ex->left > 0) {
        ex->budget[way] -= n;
        ex->left -= 1;
        PyObject *seq = PyLong_FromSsize_t(ex->seq);
        if (seq == NULL) goto error;
        PyObject *record = PyTuple_New(6);
        if (record == NULL) {
            Py_DECREF(seq);
            goto error;
        }
        PyTuple_SET_ITEM(record, 0, Py_NewRef(way == 0 ? RECEIVED : SENT));
        PyTuple_SET_ITEM(record, 1, Py_NewRef(ex->xid));
        PyTuple_SET_ITEM(record, 2, seq);
        PyTuple_SET_ITEM(record, 3, Py_NewRef(call->t));
        PyTuple_SET_ITEM(record, 4, t_return);
        PyTuple_SET_ITEM(record, 5, Py_NewRef(message));
        t_return = NULL;
        int failed = batch_add(ex->recorder, record);
        Py_DECREF(record);
        if (failed) goto error;
        ex->seq += 1;
        return 0;
    }
    PyObject *tap = taken(ex);
    if (tap == NULL) goto error;
    PyObject *out = PyObject_CallMethodObjArgs(tap, s_record, way == 0 ? RECEIVED : SENT,
                                               way == 0 ? WAY_IN : WAY_OUT, call->t, t_return,
                                               message, OK, Py_None, NULL);
    if (out == NULL) goto error;
    Py_DECREF(out);
    Py_DECREF(t_return);
    return 0;
error:
    Py_XDECREF(t_return);
    return count_error(ex->recorder);
}

/* After showing an exception to the tap: set it again, the very same objects; or, when that
 * failed, the new error, with the first as its context (as from an except block). */
static void restore_or_chain(PyObject *type, PyObject *value, PyObject *tb, int shown) {
    if (shown) {
        PyErr_Restore(type, value, tb);
        return;
    }
    PyObject *t2, *v2, *b2;
    fetch(&t2, &v2, &b2);
    if (v2 != value) PyException_SetContext(v2, Py_NewRef(value));
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    PyErr_Restore(t2, v2, b2);
}

/* A call raised (or was cancelled): the exception set now is shown to the tap
 * (tap.failed) and set again, the very same objects. Always returns -1. */
static int raised(Call *call) {
    PyObject *type, *value, *tb;
    fetch(&type, &value, &tb);
    Exchange *ex = call->exchange;
    PyObject *tap = taken(ex);
    PyObject *out = tap == NULL ? NULL : PyObject_CallMethodObjArgs(
        tap, s_failed, call->way == 0 ? RECEIVED : SENT, call->way == 0 ? WAY_IN : WAY_OUT,
        call->t, call->message ? call->message : Py_None, value, NULL);
    Py_XDECREF(out);
    restore_or_chain(type, value, tb, out != NULL);
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Call: the awaitable. */

/* What `await x` accepts, as an iterator to drive (CPython's _PyCoro_GetAwaitableIter). */
static PyObject *awaitable_iter(PyObject *o) {
    if (PyCoro_CheckExact(o)) return Py_NewRef(o);
    if (PyGen_CheckExact(o)) { /* a @types.coroutine generator */
        PyObject *code = PyObject_GetAttrString(o, "gi_code");
        if (code == NULL) return NULL;
        int flags = PyCode_Check(code) ? ((PyCodeObject *)code)->co_flags : 0;
        Py_DECREF(code);
        if (flags & CO_ITERABLE_COROUTINE) return Py_NewRef(o);
    }
    PyAsyncMethods *am = Py_TYPE(o)->tp_as_async;
    if (am != NULL && am->am_await != NULL) {
        PyObject *it = am->am_await(o);
        if (it == NULL) return NULL;
        if (PyCoro_CheckExact(it)) {
            Py_DECREF(it);
            PyErr_SetString(PyExc_TypeError, "__await__() returned a coroutine");
            return NULL;
        }
        if (!PyIter_Check(it)) {
            PyErr_Format(PyExc_TypeError, "__await__() returned non-iterator of type '%.100s'",
                         Py_TYPE(it)->tp_name);
            Py_DECREF(it);
            return NULL;
        }
        return it;
    }
    PyErr_Format(PyExc_TypeError, "object %.100s can't be used in 'await' expression",
                 Py_TYPE(o)->tp_name);
    return NULL;
}

/* Start the call: the time, then (send) the message's type and one-shot headers listed, then
 * the server's receive()/send() and its awaitable. */
static int start(Call *call) {
    Exchange *ex = call->exchange;
    call->t = now_ns();
    if (call->t == NULL) return -1;
    if (call->way == 1) {
        PyObject *kind = get(call->message, s_type);
        int headed = kind == NULL ? -1 : PySet_Contains(HEADED, kind);
        if (headed > 0) {
            PyObject *headers = get(call->message, s_headers);
            if (headers == NULL) headed = -1;
            else if (!PyList_Check(headers) && !PyTuple_Check(headers)) {
                PyObject *listed = PyObject_CallFunctionObjArgs(
                    HEADERS_LISTED, ex->recorder->batch, ex->xid, call->message, NULL);
                if (listed == NULL) headed = -1;
                else Py_SETREF(call->message, listed);
            }
            Py_XDECREF(headers);
        }
        if (headed < 0) {
            Py_CLEAR(kind);
            if (count_error(ex->recorder) < 0) return -1;
        }
        call->kind = kind;
    }
    PyObject *awaitable = call->way == 0 ? PyObject_CallNoArgs(ex->receive)
                                         : PyObject_CallOneArg(ex->send, call->message);
    if (awaitable == NULL) return raised(call);
    call->inner = awaitable_iter(awaitable);
    Py_DECREF(awaitable);
    if (call->inner == NULL) return raised(call);
    return 0;
}

/* The inner awaitable finished with `value`: record the message (received, or sent), then the
 * call's own result (the message for receive, None for send). */
static PySendResult call_finish(PyObject *self, PyObject *value, PyObject **result) {
    Call *call = (Call *)self;
    if (returned(call, call->way == 0 ? value : call->message) < 0) {
        Py_DECREF(value);
        return PYGEN_ERROR;
    }
    if (call->way == 1) {
        Py_DECREF(value);
        value = Py_NewRef(Py_None);
    }
    *result = value;
    return PYGEN_RETURN;
}

static PySendResult call_fail(PyObject *self) {
    raised((Call *)self);
    return PYGEN_ERROR;
}

static int call_start(PyObject *self) { return start((Call *)self); }

static const Steps call_steps = {call_start, call_finish, call_fail};

/* The inner awaitable is over: its end goes to the awaitable's own steps. */
static PySendResult ended(Driven *d, PySendResult status, PyObject *value, PyObject **result) {
    d->state = DONE;
    Py_CLEAR(d->inner);
    if (status == PYGEN_RETURN) return d->steps->finish((PyObject *)d, value, result);
    return d->steps->fail((PyObject *)d);
}

static PySendResult driven_am_send(Driven *d, PyObject *arg, PyObject **result) {
    *result = NULL;
    if (d->state == DONE) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited coroutine");
        return PYGEN_ERROR;
    }
    if (d->state == NEW) {
        if (arg != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "can't send non-None value to a just-started coroutine");
            return PYGEN_ERROR;
        }
        d->state = RUNNING;
        if (d->steps->start((PyObject *)d) < 0) {
            d->state = DONE;
            Py_CLEAR(d->inner);
            return PYGEN_ERROR;
        }
    }
    PyObject *value = NULL;
    PySendResult status = PyIter_Send(d->inner, arg, &value);
    if (status == PYGEN_NEXT) {
        *result = value;
        return PYGEN_NEXT;
    }
    return ended(d, status, value, result);
}

/* A PySendResult as a Python-level method returns it: the value, or StopIteration. */
static PyObject *as_method_result(PySendResult status, PyObject *result) {
    if (status == PYGEN_NEXT) return result;
    if (status == PYGEN_RETURN) {
        if (result == Py_None) PyErr_SetNone(PyExc_StopIteration);
        else { /* StopIteration(value): a tuple or an exception stays one value */
            PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, result);
            if (stop != NULL) {
                PyErr_SetObject(PyExc_StopIteration, stop);
                Py_DECREF(stop);
            }
        }
        Py_DECREF(result);
    }
    return NULL;
}

static PyObject *driven_iternext(Driven *d) {
    PyObject *result = NULL;
    PySendResult status = driven_am_send(d, Py_None, &result);
    return as_method_result(status, result);
}

static PyObject *driven_send(Driven *d, PyObject *arg) {
    PyObject *result = NULL;
    PySendResult status = driven_am_send(d, arg, &result);
    return as_method_result(status, result);
}

/* Raise (type, value, traceback) as `raise` in the awaiting frame would. */
static void set_thrown(PyObject *type, PyObject *value, PyObject *tb) {
    if (PyExceptionInstance_Check(type)) { /* throw(instance) */
        PyErr_Restore(Py_NewRef(Py_TYPE(type)), Py_NewRef(type), Py_XNewRef(tb));
        return;
    }
    PyErr_Restore(Py_NewRef(type), Py_XNewRef(value), Py_XNewRef(tb));
    PyObject *t, *v, *b;
    fetch(&t, &v, &b);
    PyErr_Restore(t, v, b);
}

/* The value of the StopIteration set now (a new reference, the error cleared), or NULL with
 * any other error left set. */
static PyObject *stop_value(void) {
    if (!PyErr_ExceptionMatches(PyExc_StopIteration)) return NULL;
    PyObject *type, *value, *tb;
    fetch(&type, &value, &tb);
    PyObject *result = value ? PyObject_GetAttrString(value, "value") : Py_NewRef(Py_None);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return result;
}

/* Close the inner awaitable, if it can be. -1 with the error set. */
static int close_inner(PyObject *inner) {
    PyObject *close = NULL;
    if (_PyObject_LookupAttr(inner, s_close, &close) < 0) return -1;
    if (close == NULL) return 0;
    PyObject *out = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    if (out == NULL) return -1;
    Py_DECREF(out);
    return 0;
}

/* ended(), as a Python-level method returns it. */
static PyObject *ended_as_method(Driven *d, PySendResult status, PyObject *value) {
    PyObject *result = NULL;
    status = ended(d, status, value, &result);
    return as_method_result(status, result);
}

/* throw(): cancellation (and any exception thrown in) goes to the inner awaitable first, as
 * `await` delegates (CPython's gen_throw); what comes out ends the awaitable like any other
 * outcome. */
static PyObject *driven_throw(Driven *d, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw expected 1 to 3 arguments");
        return NULL;
    }
    PyObject *type = args[0], *value = nargs > 1 ? args[1] : NULL, *tb = nargs > 2 ? args[2] : NULL;
    if (value == Py_None) value = NULL;
    if (tb == Py_None) tb = NULL;
    if (!PyExceptionClass_Check(type) && !PyExceptionInstance_Check(type)) {
        PyErr_SetString(PyExc_TypeError,
                        "exceptions must be classes or instances deriving from BaseException");
        return NULL;
    }
    if (d->state != RUNNING) { /* not started, or over: raised where it stands */
        d->state = DONE;
        set_thrown(type, value, tb);
        return NULL;
    }
    if (PyErr_GivenExceptionMatches(type, PyExc_GeneratorExit)) {
        if (close_inner(d->inner) == 0) set_thrown(type, value, tb);
        return ended_as_method(d, PYGEN_ERROR, NULL);
    }
    PyObject *throw = NULL;
    if (_PyObject_LookupAttr(d->inner, s_throw, &throw) < 0) {
        return ended_as_method(d, PYGEN_ERROR, NULL);
    }
    if (throw == NULL) {
        set_thrown(type, value, tb);
        return ended_as_method(d, PYGEN_ERROR, NULL);
    }
    PyObject *yielded = PyObject_Vectorcall(throw, args, nargs, NULL);
    Py_DECREF(throw);
    if (yielded != NULL) return yielded; /* the inner awaitable went on */
    PyObject *returned_value = stop_value();
    PySendResult status = returned_value != NULL ? PYGEN_RETURN : PYGEN_ERROR;
    return ended_as_method(d, status, returned_value);
}

/* close(): as a coroutine closed while it awaits: the inner awaitable is closed, and the
 * awaitable ends by GeneratorExit (or by what closing raised). */
static PyObject *driven_close(Driven *d, PyObject *Py_UNUSED(ignored)) {
    if (d->state != RUNNING) {
        d->state = DONE;
        Py_RETURN_NONE;
    }
    if (close_inner(d->inner) == 0) PyErr_SetNone(PyExc_GeneratorExit);
    PyObject *result = NULL;
    ended(d, PYGEN_ERROR, NULL, &result);
    if (PyErr_ExceptionMatches(PyExc_GeneratorExit)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return NULL;
}

static PyObject *driven_await(PyObject *self) { return Py_NewRef(self); }

static int call_traverse(Call *call, visitproc visit, void *arg) {
    Py_VISIT(call->exchange);
    Py_VISIT(call->message);
    Py_VISIT(call->kind);
    Py_VISIT(call->inner);
    return 0;
}

static int call_clear(Call *call) {
    Py_CLEAR(call->exchange);
    Py_CLEAR(call->message);
    Py_CLEAR(call->kind);
    Py_CLEAR(call->inner);
    Py_CLEAR(call->t);
    return 0;
}

static void call_dealloc(Call *call) {
    PyObject_GC_UnTrack(call);
    call_clear(call);
    PyObject_GC_Del(call);
}

static PyMethodDef driven_methods[] = {
    {"send", (PyCFunction)driven_send, METH_O, "Send a value into the awaited call."},
    {"throw", (PyCFunction)(void (*)(void))driven_throw, METH_FASTCALL,
     "Raise an exception into the awaited call (cancellation)."},
    {"close", (PyCFunction)driven_close, METH_NOARGS, "Close the awaited call."},
    {NULL},
};

static PyAsyncMethods driven_async = {
    .am_await = driven_await,
    .am_send = (sendfunc)driven_am_send,
};

static PyTypeObject CallType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asgi_inspect.record._hotpath.Call",
    .tp_doc = "One recorded receive() or send(), awaited.",
    .tp_basicsize = sizeof(Call),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_as_async = &driven_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)driven_iternext,
    .tp_methods = driven_methods,
    .tp_traverse = (traverseproc)call_traverse,
    .tp_clear = (inquiry)call_clear,
    .tp_dealloc = (destructor)call_dealloc,
};

static PyObject *new_call(Exchange *ex, int way, PyObject *message) {
    Call *call = PyObject_GC_New(Call, &CallType);
    if (call == NULL) return NULL;
    call->steps = &call_steps;
    call->exchange = (Exchange *)Py_NewRef(ex);
    call->message = Py_XNewRef(message);
    call->kind = NULL;
    call->inner = NULL;
    call->t = NULL;
    call->way = way;
    call->state = NEW;
    PyObject_GC_Track(call);
    return (PyObject *)call;
}

/* ---------------------------------------------------------------------------------------- */
/* Exchange. */

static PyObject *exchange_receive(Exchange *ex, PyObject *Py_UNUSED(ignored)) {
    return new_call(ex, 0, NULL);
}

static PyObject *exchange_send(Exchange *ex, PyObject *message) {
    return new_call(ex, 1, message);
}

static PyObject *exchange_taken(Exchange *ex, PyObject *Py_UNUSED(ignored)) {
    return Py_XNewRef(taken(ex));
}

static int exchange_traverse(Exchange *ex, visitproc visit, void *arg) {
    Py_VISIT(ex->recorder);
    Py_VISIT(ex->xid);
    Py_VISIT(ex->receive);
    Py_VISIT(ex->send);
    Py_VISIT(ex->tap);
    return 0;
}

static int exchange_clear(Exchange *ex) {
    Py_CLEAR(ex->recorder);
    Py_CLEAR(ex->xid);
    Py_CLEAR(ex->receive);
    Py_CLEAR(ex->send);
    Py_CLEAR(ex->tap);
    return 0;
}

static void exchange_dealloc(Exchange *ex) {
    PyObject_GC_UnTrack(ex);
    exchange_clear(ex);
    PyObject_GC_Del(ex);
}

static PyMethodDef exchange_methods[] = {
    {"receive", (PyCFunction)exchange_receive, METH_NOARGS, "The app's receive()."},
    {"send", (PyCFunction)exchange_send, METH_O, "The app's send(message)."},
    {"taken", (PyCFunction)exchange_taken, METH_NOARGS,
     "The exchange's _Tap, made from the counters so far if there is none yet."},
    {NULL},
};

static PyMemberDef exchange_members[] = {
    {"tap", T_OBJECT, offsetof(Exchange, tap), READONLY, "The _Tap once handed over, or None."},
    {NULL},
};

static PyTypeObject ExchangeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asgi_inspect.record._hotpath.Exchange",
    .tp_doc = "One HTTP exchange on the common path: its receive(), send() and counters.",
    .tp_basicsize = sizeof(Exchange),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_methods = exchange_methods,
    .tp_members = exchange_members,
    .tp_traverse = (traverseproc)exchange_traverse,
    .tp_clear = (inquiry)exchange_clear,
    .tp_dealloc = (destructor)exchange_dealloc,
};

/* ---------------------------------------------------------------------------------------- */
/* Run: Inspector.__call__'s common case whole (an HTTP scope, nothing redacted or captured). */

static Exchange *new_exchange(Recorder *r, PyObject *xid, PyObject *receive, PyObject *send);

/* Open the exchange as Inspector.__call__ does: the flush timer checked, a number, the scope
 * recorded (lifespan state as names), the common path's counters. -1 with the error set. */
static int run_open(Run *run) {
    Recorder *r = run->recorder;
    PyObject *timer = attribute(r->batch, r->batch_dict, s_timer);
    if (timer == NULL) return -1;
    int timed = timer != Py_None;
    Py_DECREF(timer);
    if (timed) {
        PyObject *out = PyObject_CallMethodNoArgs(r->batch, s_check_timer);
        if (out == NULL) return -1;
        Py_DECREF(out);
    }
    PyObject *xid = PyIter_Next(r->ids);
    if (xid == NULL) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "no more exchange numbers");
        return -1;
    }
    run->keys = PyDict_GET_SIZE(run->scope);
    PyObject *state = PyDict_GetItemWithError(run->scope, s_state); /* borrowed */
    int stateful = state != NULL ? PyObject_IsTrue(state) : PyErr_Occurred() ? -1 : 0;
    PyObject *snap = stateful < 0 ? NULL
                     : stateful ? PyObject_CallOneArg(SCOPE_SNAPSHOT, run->scope)
                                : Py_NewRef(run->scope);
    PyObject *t = snap ? now_ns() : NULL;
    PyObject *record = t ? PyTuple_Pack(4, OPEN, xid, t, snap) : NULL;
    Py_XDECREF(snap);
    Py_XDECREF(t);
    int failed = record == NULL || batch_add(r, record) < 0;
    Py_XDECREF(record);
    if (!failed) run->flow = new_exchange(r, xid, run->receive, run->send);
    Py_DECREF(xid);
    return run->flow == NULL ? -1 : 0;
}

/* The app's call ended by an exception: the tap records it (with what the app added to the
 * scope), and it goes on, the same objects. */
static PySendResult run_fail(PyObject *self) {
    Run *run = (Run *)self;
    if (run->flow == NULL) return PYGEN_ERROR;
    PyObject *type, *value, *tb;
    fetch(&type, &value, &tb);
    PyObject *tap = taken(run->flow);
    PyObject *keys = tap ? PyLong_FromSsize_t(run->keys) : NULL;
    PyObject *added = keys ? PyObject_CallFunctionObjArgs(SCOPE_ADDED, run->scope, keys, NULL)
                           : NULL;
    PyObject *out = added ? PyObject_CallMethodObjArgs(tap, s_close, value, Py_None, added, NULL)
                          : NULL;
    Py_XDECREF(keys);
    Py_XDECREF(added);
    Py_XDECREF(out);
    restore_or_chain(type, value, tb, out != NULL);
    return PYGEN_ERROR;
}

/* The app returned `value`: the six-item close on the common path, else the tap's. */
static PySendResult run_finish(PyObject *self, PyObject *value, PyObject **result) {
    Run *run = (Run *)self;
    Exchange *flow = run->flow;
    int failed = 0;
    if (flow != NULL && flow->tap == Py_None && value == Py_None &&
        PyDict_GET_SIZE(run->scope) == run->keys) {
        PyObject *t = now_ns();
        PyObject *record = t ? PyTuple_Pack(4, CLOSED, flow->xid, t, OK) : NULL;
        Py_XDECREF(t);
        failed = record == NULL || batch_add(run->recorder, record) < 0;
        Py_XDECREF(record);
    }
    else if (flow != NULL) {
        PyObject *tap = taken(flow);
        PyObject *keys = tap ? PyLong_FromSsize_t(run->keys) : NULL;
        PyObject *added = keys ? PyObject_CallFunctionObjArgs(SCOPE_ADDED, run->scope, keys,
                                                              NULL) : NULL;
        PyObject *out = added ? PyObject_CallMethodObjArgs(tap, s_close, Py_None, value, added,
                                                           NULL) : NULL;
        failed = out == NULL;
        Py_XDECREF(keys);
        Py_XDECREF(added);
        Py_XDECREF(out);
    }
    if (failed) {
        Py_DECREF(value);
        return PYGEN_ERROR;
    }
    *result = value;
    return PYGEN_RETURN;
}

/* Open the exchange (or, if that fails, count the error and run the app unrecorded), then
 * call the app with the common path's receive() and send(). */
static int run_start(PyObject *self) {
    Run *run = (Run *)self;
    Recorder *r = run->recorder;
    PyObject *app = attribute(r->inspector, r->inspector_dict, s_app);
    if (app == NULL) return -1;
    PyObject *receive = NULL, *send = NULL;
    if (run_open(run) < 0) {
        if (count_error(r) < 0) {
            Py_DECREF(app);
            return -1;
        }
        receive = Py_NewRef(run->receive);
        send = Py_NewRef(run->send);
    }
    else {
        receive = PyObject_GetAttr((PyObject *)run->flow, s_receive);
        send = receive ? PyObject_GetAttr((PyObject *)run->flow, s_send) : NULL;
    }
    PyObject *awaitable = NULL;
    if (send != NULL) {
        PyObject *args[3] = {run->scope, receive, send};
        awaitable = PyObject_Vectorcall(app, args, 3, NULL);
    }
    Py_DECREF(app);
    Py_XDECREF(receive);
    Py_XDECREF(send);
    if (awaitable != NULL) {
        run->inner = awaitable_iter(awaitable);
        Py_DECREF(awaitable);
    }
    if (run->inner == NULL) {
        run_fail(self);
        return -1;
    }
    return 0;
}

static const Steps run_steps = {run_start, run_finish, run_fail};

static int run_traverse(Run *run, visitproc visit, void *arg) {
    Py_VISIT(run->inner);
    Py_VISIT(run->recorder);
    Py_VISIT(run->scope);
    Py_VISIT(run->receive);
    Py_VISIT(run->send);
    Py_VISIT(run->flow);
    return 0;
}

static int run_clear(Run *run) {
    Py_CLEAR(run->inner);
    Py_CLEAR(run->recorder);
    Py_CLEAR(run->scope);
    Py_CLEAR(run->receive);
    Py_CLEAR(run->send);
    Py_CLEAR(run->flow);
    return 0;
}

static void run_dealloc(Run *run) {
    PyObject_GC_UnTrack(run);
    run_clear(run);
    PyObject_GC_Del(run);
}

static PyTypeObject RunType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asgi_inspect.record._hotpath.Run",
    .tp_doc = "One HTTP exchange recorded on the common path, awaited.",
    .tp_basicsize = sizeof(Run),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_as_async = &driven_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)driven_iternext,
    .tp_methods = driven_methods,
    .tp_traverse = (traverseproc)run_traverse,
    .tp_clear = (inquiry)run_clear,
    .tp_dealloc = (destructor)run_dealloc,
};

/* run(scope, receive, send): Inspector.__call__ for an HTTP scope held in a dict, when nothing
 * is redacted or captured. */
static PyObject *recorder_run(Recorder *r, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyDict_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "run(scope: dict, receive, send)");
        return NULL;
    }
    Run *run = PyObject_GC_New(Run, &RunType);
    if (run == NULL) return NULL;
    run->steps = &run_steps;
    run->inner = NULL;
    run->state = NEW;
    run->recorder = (Recorder *)Py_NewRef(r);
    run->scope = Py_NewRef(args[0]);
    run->receive = Py_NewRef(args[1]);
    run->send = Py_NewRef(args[2]);
    run->flow = NULL;
    run->keys = 0;
    PyObject_GC_Track(run);
    return (PyObject *)run;
}

/* ---------------------------------------------------------------------------------------- */
/* Recorder. */

static int read_size(Recorder *r, PyObject *name, Py_ssize_t *out) {
    PyObject *value = attribute(r->batch, r->batch_dict, name);
    if (value == NULL) return -1;
    *out = PyLong_AsSsize_t(value);
    Py_DECREF(value);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* The counters start as the closures' do, from the batch's caps. */
static Exchange *new_exchange(Recorder *r, PyObject *xid, PyObject *receive, PyObject *send) {
    Py_ssize_t left, budget;
    if (read_size(r, s_max_events, &left) < 0 || read_size(r, s_max_body, &budget) < 0) {
        return NULL;
    }
    Exchange *ex = PyObject_GC_New(Exchange, &ExchangeType);
    if (ex == NULL) return NULL;
    ex->recorder = (Recorder *)Py_NewRef(r);
    ex->xid = Py_NewRef(xid);
    ex->receive = Py_NewRef(receive);
    ex->send = Py_NewRef(send);
    ex->tap = Py_NewRef(Py_None);
    ex->seq = 0;
    ex->left = left;
    ex->budget[0] = ex->budget[1] = budget;
    PyObject_GC_Track(ex);
    return ex;
}

/* exchange(xid, receive, send): the common path's receive() and send() of one exchange, for
 * Inspector.__call__ when it records the rest itself (output or calls captured). */
static PyObject *recorder_exchange(Recorder *r, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "exchange(xid, receive, send)");
        return NULL;
    }
    return (PyObject *)new_exchange(r, args[0], args[1], args[2]);
}

static PyObject *recorder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *inspector, *batch;
    if (!PyArg_ParseTuple(args, "OO:Recorder", &inspector, &batch)) return NULL;
    if (TAP == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "asgi_inspect.record._hotpath: configure() first");
        return NULL;
    }
    PyObject *encode_into = PyObject_GetAttr(batch, s_encode_into);
    PyObject *buffer = encode_into ? PyObject_GetAttr(batch, s_buffer) : NULL;
    PyObject *ids = buffer ? PyObject_GetAttr(inspector, s_ids) : NULL;
    PyObject *batch_dict = ids ? PyObject_GenericGetDict(batch, NULL) : NULL;
    PyObject *inspector_dict = batch_dict ? PyObject_GenericGetDict(inspector, NULL) : NULL;
    Recorder *r = NULL;
    if (inspector_dict != NULL && PyByteArray_CheckExact(buffer) && PyIter_Check(ids)) {
        r = (Recorder *)type->tp_alloc(type, 0);
    }
    else if (inspector_dict != NULL) {
        PyErr_SetString(PyExc_TypeError, "not a batch's buffer, or no ids");
    }
    if (r == NULL) {
        Py_XDECREF(encode_into);
        Py_XDECREF(buffer);
        Py_XDECREF(ids);
        Py_XDECREF(batch_dict);
        Py_XDECREF(inspector_dict);
        return NULL;
    }
    r->ids = ids;
    r->batch_dict = batch_dict;
    r->inspector_dict = inspector_dict;
    r->inspector = Py_NewRef(inspector);
    r->batch = Py_NewRef(batch);
    r->encode_into = encode_into;
    r->buffer = buffer;
    return (PyObject *)r;
}

static int recorder_traverse(Recorder *r, visitproc visit, void *arg) {
    Py_VISIT(r->inspector);
    Py_VISIT(r->batch);
    Py_VISIT(r->encode_into);
    Py_VISIT(r->buffer);
    Py_VISIT(r->ids);
    Py_VISIT(r->batch_dict);
    Py_VISIT(r->inspector_dict);
    return 0;
}

static int recorder_clear(Recorder *r) {
    Py_CLEAR(r->inspector);
    Py_CLEAR(r->batch);
    Py_CLEAR(r->encode_into);
    Py_CLEAR(r->buffer);
    Py_CLEAR(r->ids);
    Py_CLEAR(r->batch_dict);
    Py_CLEAR(r->inspector_dict);
    return 0;
}

static void recorder_dealloc(Recorder *r) {
    PyObject_GC_UnTrack(r);
    recorder_clear(r);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyMethodDef recorder_methods[] = {
    {"exchange", (PyCFunction)(void (*)(void))recorder_exchange, METH_FASTCALL,
     "exchange(xid, receive, send): the common path of one HTTP exchange."},
    {"run", (PyCFunction)(void (*)(void))recorder_run, METH_FASTCALL,
     "run(scope, receive, send): an HTTP exchange recorded whole, awaitable."},
    {NULL},
};

static PyTypeObject RecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asgi_inspect.record._hotpath.Recorder",
    .tp_doc = "Recorder(inspector, batch): the common path of an Inspector's HTTP exchanges.",
    .tp_basicsize = sizeof(Recorder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = recorder_new,
    .tp_methods = recorder_methods,
    .tp_traverse = (traverseproc)recorder_traverse,
    .tp_clear = (inquiry)recorder_clear,
    .tp_dealloc = (destructor)recorder_dealloc,
};

/* ---------------------------------------------------------------------------------------- */
/* Module. */

static PyObject *configure(PyObject *module, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"tap", "headers_listed", "headed", "received", "sent", "way_in",
                            "way_out", "ok", "request", "start", "body", "max_buffer", "open",
                            "closed", "scope_snapshot", "scope_added", NULL};
    PyObject *tap, *listed, *headed, *received, *sent, *way_in, *way_out, *ok, *request,
        *start_, *body, *open, *closed, *snapshot, *added;
    Py_ssize_t max_buffer;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "$OOO!OOOOOUUUnOOOO:configure", names, &tap,
                                     &listed, &PyFrozenSet_Type, &headed, &received, &sent,
                                     &way_in, &way_out, &ok, &request, &start_, &body,
                                     &max_buffer, &open, &closed, &snapshot, &added)) {
        return NULL;
    }
    Py_XSETREF(OPEN, Py_NewRef(open));
    Py_XSETREF(CLOSED, Py_NewRef(closed));
    Py_XSETREF(SCOPE_SNAPSHOT, Py_NewRef(snapshot));
    Py_XSETREF(SCOPE_ADDED, Py_NewRef(added));
    Py_XSETREF(TAP, Py_NewRef(tap));
    Py_XSETREF(HEADERS_LISTED, Py_NewRef(listed));
    Py_XSETREF(HEADED, Py_NewRef(headed));
    Py_XSETREF(RECEIVED, Py_NewRef(received));
    Py_XSETREF(SENT, Py_NewRef(sent));
    Py_XSETREF(WAY_IN, Py_NewRef(way_in));
    Py_XSETREF(WAY_OUT, Py_NewRef(way_out));
    Py_XSETREF(OK, Py_NewRef(ok));
    Py_XSETREF(S_REQUEST, Py_NewRef(request));
    Py_XSETREF(S_START, Py_NewRef(start_));
    Py_XSETREF(S_BODY, Py_NewRef(body));
    MAX_BUFFER = max_buffer;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"configure", (PyCFunction)(void (*)(void))configure, METH_VARARGS | METH_KEYWORDS,
     "Hand the extension the Python path's constants and helpers (middleware.py does)."},
    {NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "asgi_inspect.record._hotpath",
    "The recorder's common path, compiled (see record/middleware.py).", -1, module_methods,
};

static int intern(PyObject **slot, const char *text) {
    *slot = PyUnicode_InternFromString(text);
    return *slot == NULL ? -1 : 0;
}

PyMODINIT_FUNC PyInit__hotpath(void) {
    if (intern(&s_type, "type") || intern(&s_body, "body") || intern(&s_headers, "headers") ||
        intern(&s_get, "get") || intern(&s_count, "_count") || intern(&s_timer, "_timer") ||
        intern(&s_schedule, "_schedule") || intern(&s_flush, "flush") ||
        intern(&s_recover, "_recover") || intern(&s_error, "error") ||
        intern(&s_record, "record") || intern(&s_failed, "failed") ||
        intern(&s_throw, "throw") || intern(&s_close, "close") ||
        intern(&s_encode_into, "_encode_into") || intern(&s_buffer, "_buffer") ||
        intern(&s_max_body, "max_body") || intern(&s_max_events, "max_events") ||
        intern(&s_ids, "_ids") || intern(&s_app, "app") ||
        intern(&s_check_timer, "check_timer") || intern(&s_state, "state") ||
        intern(&s_receive, "receive") || intern(&s_send, "send")) {
        return NULL;
    }
    MINUS_ONE = PyLong_FromLong(-1);
    ONE = PyLong_FromLong(1);
    if (MINUS_ONE == NULL || ONE == NULL || PyType_Ready(&RecorderType) < 0 || PyType_Ready(&ExchangeType) < 0 ||
        PyType_Ready(&CallType) < 0 || PyType_Ready(&RunType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) return NULL;
    if (PyModule_AddObjectRef(module, "Recorder", (PyObject *)&RecorderType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
