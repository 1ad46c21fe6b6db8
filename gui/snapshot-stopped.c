// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Snapshot revert and delete for a stopped VM (see snapshot-stopped.h). One operation is a
 * small state machine driven by the VM's "notify::state" and "error" signals: the engine
 * starts paused, the command goes out once QMP answers, and a failure or a delete ends with the
 * engine gone. The steps after the start always run to their end, even when the caller's
 * cancellable fires: a VM left running paused half-way through a delete is worse than a late
 * result nobody reads.
 */
#include "gui/snapshot-stopped.h"

#include "gui/dv-error.h"

enum phase {
    PHASE_STARTING, /* the engine was spawned, QMP has not answered yet */
    PHASE_COMMAND,  /* snapshot-revert or snapshot-delete is in flight */
    PHASE_ENDING,   /* quit or force off sent: waiting for the engine to be gone */
};

struct stopped_op {
    DvVm *vm;
    DvSnapshotStore *store;
    DvSnapshot *snap;
    gboolean remove; /* delete then quit, rather than revert */
    enum phase phase;
    GError *error; /* the failure to report once the engine is gone */
    gulong state_handler, error_handler;
};

static GQuark busy_quark(void)
{
    return g_quark_from_static_string("dv-snapshot-stopped-op");
}

static void op_free(gpointer p)
{
    struct stopped_op *o = p;
    g_clear_object(&o->vm);
    g_clear_object(&o->store);
    g_clear_object(&o->snap);
    g_clear_error(&o->error);
    g_free(o);
}

gboolean dv_snapshot_stopped_is_busy(DvVm *vm)
{
    return g_object_get_qdata(G_OBJECT(vm), busy_quark()) != NULL;
}

/* The end: the handlers go, the VM is free for the next operation, the result is given. */
static void complete(GTask *task)
{
    struct stopped_op *o = g_task_get_task_data(task);
    g_clear_signal_handler(&o->state_handler, o->vm);
    g_clear_signal_handler(&o->error_handler, o->vm);
    g_object_set_qdata(G_OBJECT(o->vm), busy_quark(), NULL);
    if (o->error != NULL) {
        g_task_return_error(task, g_steal_pointer(&o->error));
    } else {
        g_task_return_boolean(task, TRUE);
    }
    g_object_unref(task);
}

static void keep_error(struct stopped_op *o, GError *error)
{
    if (o->error == NULL) {
        o->error = error;
    } else {
        g_error_free(error);
    }
}

/* The engine is gone: the tree is what it left in snapshots.json. */
static void complete_stopped(GTask *task)
{
    struct stopped_op *o = g_task_get_task_data(task);
    GError *load_error = NULL;
    if (!dv_snapshot_store_load(o->store, &load_error)) {
        keep_error(o, load_error);
    }
    if (dv_vm_get_state(o->vm) == DV_VM_CRASHED && o->error == NULL) {
        const GError *e = dv_vm_get_error(o->vm);
        o->error = e != NULL ? g_error_copy(e)
                             : g_error_new_literal(DV_ERROR, DV_ERROR_ENGINE, "The engine crashed");
    }
    complete(task);
}

static gboolean engine_gone(DvVm *vm)
{
    return dv_vm_get_engine(vm) == NULL;
}

/* Stop the engine (quit after a delete, force off after a failure); the state handler
 * completes the task once it is gone. */
static void end_engine(GTask *task, gboolean quit)
{
    struct stopped_op *o = g_task_get_task_data(task);
    o->phase = PHASE_ENDING;
    if (engine_gone(o->vm)) {
        complete_stopped(task);
        return;
    }
    if (quit && dv_engine_get_qmp(dv_vm_get_engine(o->vm)) != NULL) {
        dv_engine_command(dv_vm_get_engine(o->vm), "quit"); /* a failure forces it off */
    } else {
        dv_vm_force_off(o->vm, NULL);
    }
}

static void reverted(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    struct stopped_op *o = g_task_get_task_data(task);
    GError *error = NULL;
    if (dv_snapshot_store_revert_finish(DV_SNAPSHOT_STORE(src), res, &error)) {
        complete(task); /* paused at the snapshot, the engine runs on */
        return;
    }
    keep_error(o, error);
    end_engine(task, FALSE);
}

static void deleted(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    struct stopped_op *o = g_task_get_task_data(task);
    GError *error = NULL;
    if (!dv_snapshot_store_delete_finish(DV_SNAPSHOT_STORE(src), res, &error)) {
        keep_error(o, error);
    }
    end_engine(task, TRUE);
}

static void on_state(DvVm *vm, GParamSpec *pspec, gpointer data)
{
    GTask *task = data;
    struct stopped_op *o = g_task_get_task_data(task);
    DvVmState st = dv_vm_get_state(vm);
    switch (o->phase) {
    case PHASE_STARTING: {
        DvQmpClient *qmp = engine_gone(vm) ? NULL : dv_engine_get_qmp(dv_vm_get_engine(vm));
        if (engine_gone(vm)) {
            if (st != DV_VM_CRASHED) {
                keep_error(o, g_error_new(DV_ERROR, DV_ERROR_ENGINE,
                                          "%s: the engine ended before it answered",
                                          dv_vm_get_name(vm)));
            }
            o->phase = PHASE_ENDING;
            complete_stopped(task);
        } else if ((st == DV_VM_PAUSED || st == DV_VM_RUNNING) && qmp != NULL) {
            o->phase = PHASE_COMMAND;
            if (o->remove) {
                dv_snapshot_store_delete_async(o->store, qmp, o->snap, NULL, deleted, task);
            } else {
                dv_snapshot_store_revert_async(o->store, qmp, o->snap, NULL, reverted, task);
            }
        }
        break;
    }
    case PHASE_COMMAND:
        break; /* the command's answer (an error if the engine ended) decides */
    case PHASE_ENDING:
        if (engine_gone(vm)) {
            complete_stopped(task);
        }
        break;
    }
}

/* A failure the VM reports while the operation owns the engine: no QMP connection after the
 * start (that is the operation's error), or a quit the engine did not take (the delete's own
 * answer already came). Either way the engine is forced off. */
static void on_vm_error(DvVm *vm, GError *error, gpointer data)
{
    GTask *task = data;
    struct stopped_op *o = g_task_get_task_data(task);
    if (o->phase == PHASE_COMMAND || engine_gone(vm)) {
        return; /* the command's own answer carries its failure; a crash comes as a state */
    }
    if (o->phase == PHASE_STARTING) {
        keep_error(o, g_error_copy(error));
        o->phase = PHASE_ENDING;
    }
    dv_vm_force_off(vm, NULL);
}

static void run(DvVm *vm, DvSnapshotStore *store, DvSnapshot *snap, gboolean remove,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
                gpointer tag)
{
    GTask *task = g_task_new(vm, cancellable, callback, user_data);
    g_task_set_source_tag(task, tag);
    const char *verb = remove ? "delete" : "revert";
    GError *error = NULL;
    if (dv_snapshot_is_legacy(snap)) {
        error =
            g_error_new(DV_ERROR, DV_ERROR_INVALID, "Start the VM to %s the legacy snapshot \"%s\"",
                        verb, dv_snapshot_get_name(snap));
    } else if (dv_snapshot_stopped_is_busy(vm) || dv_snapshot_store_is_busy(store)) {
        error = g_error_new_literal(DV_ERROR, DV_ERROR_BUSY,
                                    "Another snapshot operation is still running");
    } else if (dv_vm_is_active(vm)) {
        error = g_error_new(DV_ERROR, DV_ERROR_BUSY, "%s is running: its engine does the %s",
                            dv_vm_get_name(vm), verb);
    }
    if (error == NULL && !dv_vm_start_paused(vm, &error)) {
        g_prefix_error(&error, "Snapshot not %s: ", remove ? "deleted" : "reverted");
    }
    if (error != NULL) {
        g_task_return_error(task, error);
        g_object_unref(task);
        return;
    }
    struct stopped_op *o = g_new0(struct stopped_op, 1);
    o->vm = g_object_ref(vm);
    o->store = g_object_ref(store);
    o->snap = g_object_ref(snap);
    o->remove = remove;
    g_task_set_task_data(task, o, op_free);
    g_object_set_qdata(G_OBJECT(vm), busy_quark(), task);
    o->state_handler = g_signal_connect(vm, "notify::state", G_CALLBACK(on_state), task);
    o->error_handler = g_signal_connect(vm, "error", G_CALLBACK(on_vm_error), task);
}

void dv_snapshot_revert_stopped_async(DvVm *vm, DvSnapshotStore *store, DvSnapshot *snap,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data)
{
    run(vm, store, snap, FALSE, cancellable, callback, user_data, dv_snapshot_revert_stopped_async);
}

gboolean dv_snapshot_revert_stopped_finish(DvVm *vm, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

void dv_snapshot_delete_stopped_async(DvVm *vm, DvSnapshotStore *store, DvSnapshot *snap,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data)
{
    run(vm, store, snap, TRUE, cancellable, callback, user_data, dv_snapshot_delete_stopped_async);
}

gboolean dv_snapshot_delete_stopped_finish(DvVm *vm, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}
