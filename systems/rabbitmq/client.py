#!/usr/bin/python3
"""The RabbitMQ cluster's client (systems/rabbitmq): publishes through r1, consumes through r2.

1. Connects to r1 (AMQP, 127.0.0.1:7671) and declares the quorum queue `bop` (a Raft group
   with a member on each of r1, r2 and r3; its leader is on r1, where it was declared).
2. Turns on publisher confirms and publishes `msg 1` .. `msg N` (persistent, mandatory), one
   at a time: each must be confirmed, i.e. written by a majority of the queue's members,
   before the next is sent.
3. Connects to r2 (127.0.0.1:7672) and takes the messages with basic.get (r2 fetches them
   from the leader on r1), acknowledging each: they must be exactly msg 1 .. msg N, in order.

Prints what it did and exits 0 when every promise held, 1 when one did not (saying which),
2 on bad usage. Debian's python3-pika is the AMQP client (the system's /usr/bin/python3).
"""
import sys
import time

import pika

QUEUE = "bop"


def connect(port, deadline):
    """A blocking connection to the node on `port`, retried until `deadline` (a node that has
    just opened its AMQP port may still refuse the first handshakes)."""
    params = pika.ConnectionParameters(
        host="127.0.0.1", port=port, credentials=pika.PlainCredentials("guest", "guest"),
        heartbeat=0, blocked_connection_timeout=30, socket_timeout=10,
        connection_attempts=1)
    while True:
        try:
            return pika.BlockingConnection(params)
        except pika.exceptions.AMQPConnectionError as e:
            if time.monotonic() > deadline:
                raise SystemExit(f"client: cannot connect to 127.0.0.1:{port}: {e!r}")
            time.sleep(0.25)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    if n < 1:
        print("usage: client.py [MESSAGES]", file=sys.stderr)
        return 2
    deadline = time.monotonic() + 60

    pub = connect(7671, deadline)
    ch = pub.channel()
    ch.queue_declare(QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    ch.confirm_delivery()
    props = pika.BasicProperties(delivery_mode=2)
    for i in range(1, n + 1):
        try:
            ch.basic_publish("", QUEUE, f"msg {i}".encode(), props, mandatory=True)
        except (pika.exceptions.NackError, pika.exceptions.UnroutableError) as e:
            print(f"client: VIOLATION: msg {i} was not confirmed: {e!r}", file=sys.stderr)
            return 1
    print(f"client: published msg 1..msg {n} to r1, every one confirmed", flush=True)
    pub.close()

    sub = connect(7672, deadline)
    ch = sub.channel()
    got = []
    end = time.monotonic() + 30
    while len(got) < n and time.monotonic() < end:
        method, _, body = ch.basic_get(QUEUE)
        if method is None:
            time.sleep(0.1)
            continue
        got.append(body.decode(errors="replace"))
        ch.basic_ack(method.delivery_tag)
    extra = ch.basic_get(QUEUE)[0]
    sub.close()
    want = [f"msg {i}" for i in range(1, n + 1)]
    if got != want:
        missing = [m for m in want if m not in got]
        print(f"client: VIOLATION: through r2 got {len(got)} messages {got[:5]}…, "
              f"missing {missing[:5]}", file=sys.stderr)
        return 1
    if extra is not None:
        print("client: VIOLATION: a message more than was published", file=sys.stderr)
        return 1
    print(f"client: received msg 1..msg {n} in order through r2", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
