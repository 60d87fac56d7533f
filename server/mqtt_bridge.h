/*
 * server/mqtt_bridge.h — bridge mode: stratad as an MQTT 3.1.1 client of an
 * external (plant) broker, subscribing with QoS 1 in a persistent session
 * and writing what it receives through the listener's write path
 * (mqtt_srv_message: the same topic rules and payload formats).
 *
 * One bridge per server, on one I/O loop; all calls on that loop's thread
 * except create (before the loop thread starts) and free (after it ended).
 */
#ifndef ST_MQTT_BRIDGE_H
#define ST_MQTT_BRIDGE_H

#include <stddef.h>

#include "server/srv.h"

typedef struct mqtt_bridge mqtt_bridge;

/* A parsed --mqtt-bridge URL: mqtt://[user[:pass]@]host[:port] (also
 * tcp://; port default 1883; IPv6 hosts in brackets). */
typedef struct mqtt_bridge_url {
    char host[256];
    int port;
    char user[256], pass[256];
    int has_user, has_pass;
} mqtt_bridge_url;

/* 0 or ST_EINVAL (message in err). */
int mqtt_bridge_parse_url(const char *url, mqtt_bridge_url *out, char *err, size_t err_size);

/* Create the bridge on loop l (its MQTT state must exist: mqtt_srv_loop_init)
 * from s->opts, and start connecting once the loop runs. 0, ST_EINVAL (bad
 * URL) or ST_ENOMEM. */
int  mqtt_bridge_create(srv *s, srv_loop *l, mqtt_bridge **out);
srv_loop *mqtt_bridge_loop(const mqtt_bridge *b);
/* Loop stopping: disconnect, stop reconnecting, close the handles. */
void mqtt_bridge_stop(mqtt_bridge *b);
/* After the loop thread ended. Accepts NULL. */
void mqtt_bridge_free(mqtt_bridge *b);

#endif
