/*
 * server/mqtt_srv.h — stratad's MQTT listener: one listener per I/O loop
 * on the same address (SO_REUSEPORT, as HTTP), the connections on that
 * loop, and the write path shared with the bridge (server/mqtt_bridge.h).
 *
 * Write path: every PUBLISH (from a client of the listener, or from the
 * broker the bridge subscribes to) is mapped and decoded by pl_message
 * (ingest/payload.h: topic rules, lp/JSON/plain, Sparkplug B) and its
 * points go into the loop's open "group": one stor batch shared by every
 * message that loop reads in one iteration. At the end of the iteration
 * (a uv_check handle) the group goes to stor_write; when its WAL record is
 * durable, the group's acknowledgements (QoS 1 PUBACK, QoS 2 PUBREC) are
 * sent, in the order the PUBLISHes arrived. So a QoS 1/2 message is
 * acknowledged only after its points are in the WAL (the HTTP 204
 * guarantee), and one fsync acknowledges many messages.
 *
 * Threads: everything here runs on the owning loop's thread, except the
 * stor_write completion, which only posts back to that loop.
 */
#ifndef ST_MQTT_SRV_H
#define ST_MQTT_SRV_H

#include <stddef.h>
#include <stdint.h>

#include "common/slice.h"
#include "ingest/payload.h"
#include "server/srv.h"

struct spb_state;

/* Start the MQTT listener of loop l on the bound, listening socket fd
 * (takes ownership of fd, also on error). Before the loop thread starts.
 * 0 or ST_ENOMEM. */
int  mqtt_srv_loop_start(srv_loop *l, int fd);
/* Creates the loop's MQTT state without a listener (the bridge's loop when
 * the listener is off). Idempotent. 0 or ST_ENOMEM. */
int  mqtt_srv_loop_init(srv_loop *l);
/* The loop is stopping: close the listener, send MQTT 5.0 clients
 * DISCONNECT 0x8B and close every connection once its output is sent
 * (acknowledgements still owed are sent first if their group completes). */
void mqtt_srv_loop_stopping(srv_loop *l);
/* Close the loop's own handles once nothing is in flight (called from
 * srv_loop_maybe_done). */
void mqtt_srv_loop_close(srv_loop *l);
/* After the loop thread ended: free the loop's state. */
void mqtt_srv_loop_free(srv_loop *l);

/* ---- shared with the bridge (server/ only) ---- */

/* A producer of acknowledgements: a listener connection or the bridge.
 * Embedded in its owner; refs counts group entries that point to it, and
 * the owner may be freed only when refs is 0 (unref is called as each
 * entry is released). */
typedef struct mqtt_peer mqtt_peer;
struct mqtt_peer {
    uint32_t refs;
    /* status 0: the message's points are durable (reason: 0, or 0x99 when
     * the payload had nothing to write); else the write failed (ST_ENOSPC,
     * ST_EREADONLY, ST_ENOMEM) and no ack may be sent. */
    void (*on_ack)(mqtt_peer *p, uint16_t packet_id, uint8_t reason, int status);
    /* After a group's acks were delivered: send what they queued. */
    void (*flush)(mqtt_peer *p);
    void (*unref)(mqtt_peer *p);
    uint8_t flush_pending;
};

/* Decode one message and add its points to l's open group; when packet_id
 * is non-zero, queue (peer, packet_id) for acknowledgement after the
 * group is durable. spb: the Sparkplug state of the connection/bridge
 * (NULL refuses Sparkplug). rebirth: filled with the NCMD topic when a
 * rebirth is needed (rebirth[0] = 0 otherwise), cap bytes. 0 or ST_ENOMEM
 * (nothing queued — out of memory, or the database is missing with
 * --no-auto-create, logged here: the caller closes the connection). Errors in the payload
 * are counted and logged here (with the topic), never returned. */
int mqtt_srv_message(srv_loop *l, mqtt_peer *peer, struct spb_state *spb, uint8_t version,
                     st_slice topic, const void *payload, size_t len, uint16_t packet_id,
                     char *rebirth, size_t rebirth_cap);

#endif
