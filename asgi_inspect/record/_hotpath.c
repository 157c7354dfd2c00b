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
static Py_ssize_t MAX_BUFFER = 0;
static PyObject *MINUS_ONE = NULL, *ONE = NULL;

/* Interned names. */
static PyObject *s_type, *s_body, *s_headers, *s_get, *s_count, *s_timer, *s_schedule, *s_flush,
    *s_recover, *s_error, *s_record, *s_failed, *s_throw, *s_close, *s_encode_into, *s_buffer,
    *s_max_body, *s_max_events;

/* ---------------------------------------------------------------------------------------- */
/* Recorder: one per Inspector; the batch's encoder and buffer, fetched once. */

typedef struct {
    PyObject_HEAD
    PyObject *inspector;
    PyObject *batch;
    PyObject *encode_into; /* batch._encode_into: the bound msgspec Encoder.encode_into */
    PyObject *buffer;      /* batch._buffer: the pending batch, one bytearray for its life */
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

/* Call: one receive() or send() in progress. */
typedef struct {
    PyObject_HEAD
    Exchange *exchange;
    PyObject *message; /* send: what goes to the server; receive: NULL */
    PyObject *kind;    /* send: the message's type, or NULL when it could not be read */
    PyObject *inner;   /* the server's awaitable, once started */
    PyObject *t;       /* perf_counter_ns() at the call */
    int way;           /* 0: receive (in), 1: send (out) */
    int state;         /* 0 not started, 1 awaiting the server, 2 done */
} Call;

enum { NEW = 0, RUNNING = 1, DONE = 2 };

static PyTypeObject RecorderType, ExchangeType, CallType;

/* ---------------------------------------------------------------------------------------- */
/* The batch: Batcher.add, inlined. */

/* Encode one record into the pending batch, exactly as Batcher.add does. -1 with an exception
 * set only where Batcher.add itself would raise (its timer or flush failing). */
static int batch_add(Recorder *r, PyObject *record) {
    Py_ssize_t start = PyByteArray_GET_SIZE(r->buffer);
    PyObject *args[3] = {record, r->buffer, MINUS_ONE};
    PyObject *done = PyObject_Vectorcall(r->encode_into, args, 3, NULL);
    if (done == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) return -1;
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL) PyException_SetTraceback(value, tb);
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
    PyObject *count = PyObject_GetAttr(r->batch, s_count);
    if (count == NULL) return -1;
    PyObject *more = PyNumber_Add(count, ONE);
    Py_DECREF(count);
    if (more == NULL) return -1;
    int failed = PyObject_SetAttr(r->batch, s_count, more);
    Py_DECREF(more);
    if (failed) return -1;
    PyObject *timer = PyObject_GetAttr(r->batch, s_timer);
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
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL) PyException_SetTraceback(value, tb);
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

/* A call raised (or was cancelled): the exception set now is shown to the tap
 * (tap.failed) and set again, the very same objects. Always returns -1. */
static int raised(Call *call) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL) PyException_SetTraceback(value, tb);
    Exchange *ex = call->exchange;
    PyObject *tap = taken(ex);
    PyObject *out = tap == NULL ? NULL : PyObject_CallMethodObjArgs(
        tap, s_failed, call->way == 0 ? RECEIVED : SENT, call->way == 0 ? WAY_IN : WAY_OUT,
        call->t, call->message ? call->message : Py_None, value, NULL);
    if (out == NULL) { /* as from an except block: the new error, the call's as its context */
        PyObject *t2, *v2, *b2;
        PyErr_Fetch(&t2, &v2, &b2);
        PyErr_NormalizeException(&t2, &v2, &b2);
        if (b2 != NULL) PyException_SetTraceback(v2, b2);
        if (v2 != value) PyException_SetContext(v2, Py_NewRef(value));
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        PyErr_Restore(t2, v2, b2);
        return -1;
    }
    Py_DECREF(out);
    PyErr_Restore(type, value, tb);
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
static PySendResult finish(Call *call, PyObject *value, PyObject **result) {
    call->state = DONE;
    Py_CLEAR(call->inner);
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

static PySendResult fail(Call *call) {
    call->state = DONE;
    Py_CLEAR(call->inner);
    raised(call);
    return PYGEN_ERROR;
}

static PySendResult call_am_send(Call *call, PyObject *arg, PyObject **result) {
    *result = NULL;
    if (call->state == DONE) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited coroutine");
        return PYGEN_ERROR;
    }
    if (call->state == NEW) {
        if (arg != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "can't send non-None value to a just-started coroutine");
            return PYGEN_ERROR;
        }
        call->state = RUNNING;
        if (start(call) < 0) {
            call->state = DONE;
            Py_CLEAR(call->inner);
            return PYGEN_ERROR;
        }
    }
    PyObject *value = NULL;
    PySendResult status = PyIter_Send(call->inner, arg, &value);
    if (status == PYGEN_NEXT) {
        *result = value;
        return PYGEN_NEXT;
    }
    if (status == PYGEN_RETURN) return finish(call, value, result);
    return fail(call);
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

static PyObject *call_iternext(Call *call) {
    PyObject *result = NULL;
    PySendResult status = call_am_send(call, Py_None, &result);
    return as_method_result(status, result);
}

static PyObject *call_send(Call *call, PyObject *arg) {
    PyObject *result = NULL;
    PySendResult status = call_am_send(call, arg, &result);
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
    PyErr_Fetch(&t, &v, &b);
    PyErr_NormalizeException(&t, &v, &b);
    if (b != NULL) PyException_SetTraceback(v, b);
    PyErr_Restore(t, v, b);
}

/* The value of the StopIteration set now (a new reference, the error cleared), or NULL with
 * any other error left set. */
static PyObject *stop_value(void) {
    if (!PyErr_ExceptionMatches(PyExc_StopIteration)) return NULL;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *result = value ? PyObject_GetAttrString(value, "value") : Py_NewRef(Py_None);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return result;
}

/* throw(): cancellation (and any exception thrown in) goes to the server's awaitable first,
 * as `await` delegates; what comes out is recorded like any other outcome. */
static PyObject *call_throw(Call *call, PyObject *const *args, Py_ssize_t nargs) {
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
    if (call->state != RUNNING) { /* not started, or over: raised where the call stands */
        call->state = DONE;
        set_thrown(type, value, tb);
        return NULL;
    }
    PyObject *result = NULL;
    if (PyErr_GivenExceptionMatches(type, PyExc_GeneratorExit)) {
        PyObject *close = NULL;
        if (_PyObject_LookupAttr(call->inner, s_close, &close) < 0) return as_method_result(fail(call), NULL);
        if (close != NULL) {
            PyObject *out = PyObject_CallNoArgs(close);
            Py_DECREF(close);
            if (out == NULL) return as_method_result(fail(call), NULL);
            Py_DECREF(out);
        }
        set_thrown(type, value, tb);
        return as_method_result(fail(call), NULL);
    }
    PyObject *throw = NULL;
    if (_PyObject_LookupAttr(call->inner, s_throw, &throw) < 0) return as_method_result(fail(call), NULL);
    if (throw == NULL) {
        set_thrown(type, value, tb);
        return as_method_result(fail(call), NULL);
    }
    result = PyObject_Vectorcall(throw, args, nargs, NULL);
    Py_DECREF(throw);
    if (result != NULL) return result; /* the server's awaitable went on: it yielded */
    PyObject *value_out = stop_value();
    if (value_out != NULL) {
        PySendResult status = finish(call, value_out, &result);
        return as_method_result(status, result);
    }
    return as_method_result(fail(call), NULL);
}

/* close(): as a coroutine closed while it awaits: the server's awaitable is closed, and the
 * call is recorded as ended by GeneratorExit (or by what closing raised). */
static PyObject *call_close(Call *call, PyObject *Py_UNUSED(ignored)) {
    if (call->state != RUNNING) {
        call->state = DONE;
        Py_RETURN_NONE;
    }
    PyObject *close = NULL;
    if (_PyObject_LookupAttr(call->inner, s_close, &close) < 0) return as_method_result(fail(call), NULL);
    if (close != NULL) {
        PyObject *out = PyObject_CallNoArgs(close);
        Py_DECREF(close);
        if (out == NULL) return as_method_result(fail(call), NULL);
        Py_DECREF(out);
    }
    PyErr_SetNone(PyExc_GeneratorExit);
    fail(call);
    if (PyErr_ExceptionMatches(PyExc_GeneratorExit)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return NULL;
}

static PyObject *call_await(PyObject *self) { return Py_NewRef(self); }

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

static PyMethodDef call_methods[] = {
    {"send", (PyCFunction)call_send, METH_O, "Send a value into the awaited call."},
    {"throw", (PyCFunction)(void (*)(void))call_throw, METH_FASTCALL,
     "Raise an exception into the awaited call (cancellation)."},
    {"close", (PyCFunction)call_close, METH_NOARGS, "Close the awaited call."},
    {NULL},
};

static PyAsyncMethods call_async = {
    .am_await = call_await,
    .am_send = (sendfunc)call_am_send,
};

static PyTypeObject CallType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asgi_inspect.record._hotpath.Call",
    .tp_doc = "One recorded receive() or send(), awaited.",
    .tp_basicsize = sizeof(Call),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_as_async = &call_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)call_iternext,
    .tp_methods = call_methods,
    .tp_traverse = (traverseproc)call_traverse,
    .tp_clear = (inquiry)call_clear,
    .tp_dealloc = (destructor)call_dealloc,
};

static PyObject *new_call(Exchange *ex, int way, PyObject *message) {
    Call *call = PyObject_GC_New(Call, &CallType);
    if (call == NULL) return NULL;
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
    {"seq", T_PYSSIZET, offsetof(Exchange, seq), READONLY, "The next event's number."},
    {"left", T_PYSSIZET, offsetof(Exchange, left), READONLY, "Events still kept."},
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
/* Recorder. */

static int read_size(PyObject *batch, PyObject *name, Py_ssize_t *out) {
    PyObject *value = PyObject_GetAttr(batch, name);
    if (value == NULL) return -1;
    *out = PyLong_AsSsize_t(value);
    Py_DECREF(value);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* exchange(xid, receive, send): the counters start as the closures' do, from the batch's caps. */
static PyObject *recorder_exchange(Recorder *r, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "exchange(xid, receive, send)");
        return NULL;
    }
    Py_ssize_t left, budget;
    if (read_size(r->batch, s_max_events, &left) < 0 ||
        read_size(r->batch, s_max_body, &budget) < 0) {
        return NULL;
    }
    Exchange *ex = PyObject_GC_New(Exchange, &ExchangeType);
    if (ex == NULL) return NULL;
    ex->recorder = (Recorder *)Py_NewRef(r);
    ex->xid = Py_NewRef(args[0]);
    ex->receive = Py_NewRef(args[1]);
    ex->send = Py_NewRef(args[2]);
    ex->tap = Py_NewRef(Py_None);
    ex->seq = 0;
    ex->left = left;
    ex->budget[0] = ex->budget[1] = budget;
    PyObject_GC_Track(ex);
    return (PyObject *)ex;
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
    if (buffer == NULL || !PyByteArray_CheckExact(buffer)) {
        if (buffer != NULL) PyErr_SetString(PyExc_TypeError, "the batch's buffer is not a bytearray");
        Py_XDECREF(encode_into);
        Py_XDECREF(buffer);
        return NULL;
    }
    Recorder *r = (Recorder *)type->tp_alloc(type, 0);
    if (r == NULL) {
        Py_DECREF(encode_into);
        Py_DECREF(buffer);
        return NULL;
    }
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
    return 0;
}

static int recorder_clear(Recorder *r) {
    Py_CLEAR(r->inspector);
    Py_CLEAR(r->batch);
    Py_CLEAR(r->encode_into);
    Py_CLEAR(r->buffer);
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
                            "way_out", "ok", "request", "start", "body", "max_buffer", NULL};
    PyObject *tap, *listed, *headed, *received, *sent, *way_in, *way_out, *ok, *request,
        *start_, *body;
    Py_ssize_t max_buffer;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "$OOO!OOOOOUUUn:configure", names, &tap,
                                     &listed, &PyFrozenSet_Type, &headed, &received, &sent,
                                     &way_in, &way_out, &ok, &request, &start_, &body,
                                     &max_buffer)) {
        return NULL;
    }
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
        intern(&s_max_body, "max_body") || intern(&s_max_events, "max_events")) {
        return NULL;
    }
    MINUS_ONE = PyLong_FromLong(-1);
    ONE = PyLong_FromLong(1);
    if (MINUS_ONE == NULL || ONE == NULL || PyType_Ready(&RecorderType) < 0 || PyType_Ready(&ExchangeType) < 0 ||
        PyType_Ready(&CallType) < 0) {
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
