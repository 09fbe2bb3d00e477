"""Attacks for bench/hardening.sh, each printing one JSON line of figures.

  attack.py zero-window PORT CA BODY CONNECTIONS STREAMS
      HTTP/2 clients with SETTINGS_INITIAL_WINDOW_SIZE=0 that send complete
      reviews on every stream, answer PINGs, and never open a window: seconds
      from the last frame the server sent to its closing the connection.
  attack.py idle-flood PORT CONNECTIONS SECONDS
      open CONNECTIONS TCP connections (no TLS, no request) and keep them for
      SECONDS, reopening any the server closes; prints how many were open.
  attack.py probe WEBHOOK_PORT ADMIN_PORT CA BODY
      one review on a new TLS connection and one GET /readyz: status and seconds.

Loopback only. Needs the `h2` package (bench/hardening.sh installs it).
"""
import asyncio
import json
import socket
import ssl
import sys
import time


def tls_context(ca, alpn):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols([alpn])
    return ctx


async def zero_window(port, ca, body, connections, streams):
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings

    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls_context(ca, "h2"), server_hostname="localhost")
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        conn.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0, h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000})
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        sent = 0
        last_frame = time.monotonic()
        headers = [(":method", "POST"), (":path", "/validate"), (":scheme", "https"), (":authority", "localhost"),
                   ("content-type", "application/json"), ("content-length", str(len(body)))]
        pending = {}
        while True:
            # open streams as far as the server allows (its max concurrent streams)
            while sent < streams and conn.open_outbound_streams < conn.remote_settings.max_concurrent_streams:
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, headers)
                pending[sid] = 0
                sent += 1
            for sid in list(pending):
                window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                left = len(body) - pending[sid]
                while window > 0 and left > 0:
                    n = min(window, left, conn.max_outbound_frame_size)
                    conn.send_data(sid, body[pending[sid]:pending[sid] + n], end_stream=(n == left))
                    pending[sid] += n
                    left -= n
                    window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if left == 0:
                    del pending[sid]
            writer.write(conn.data_to_send())
            await writer.drain()
            data = await reader.read(65536)
            if not data:
                # the stall began when the server last sent anything (answer
                # headers go out; their bodies never can)
                return time.monotonic() - last_frame
            last_frame = time.monotonic()
            for _ in conn.receive_data(data):
                pass  # PINGs are acknowledged by the library; windows stay shut
            writer.write(conn.data_to_send())

    closed = await asyncio.gather(*(one() for _ in range(connections)), return_exceptions=True)
    seconds = [round(c, 1) for c in closed if isinstance(c, float)]
    errors = [repr(c) for c in closed if not isinstance(c, float)]
    print(json.dumps({"connections": connections, "streams": streams, "closed_after_s": seconds, "errors": errors}))


async def idle_flood(port, connections, seconds):
    sockets = []
    refused = 0
    async def opener():
        nonlocal refused
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port))
                sock.setblocking(False)
                sockets.append(sock)
                return
            except OSError:
                refused += 1
                await asyncio.sleep(0.01)
    for start in range(0, connections, 500):
        for _ in range(start, min(connections, start + 500)):
            await opener()
        await asyncio.sleep(0)
    print(json.dumps({"opened": len(sockets), "connect_errors": refused}), flush=True)
    end = time.monotonic() + seconds
    reopened = 0
    while time.monotonic() < end:
        await asyncio.sleep(0.5)
        for i, sock in enumerate(sockets):
            try:
                if sock.recv(1) == b"":
                    raise OSError
            except BlockingIOError:
                continue
            except OSError:
                sock.close()
                try:
                    sockets[i] = socket.create_connection(("127.0.0.1", port))
                    sockets[i].setblocking(False)
                    reopened += 1
                except OSError:
                    pass
    print(json.dumps({"held_for_s": seconds, "reopened": reopened}))


def probe(webhook, admin, ca, body):
    out = {}
    t0 = time.monotonic()
    try:
        raw = socket.create_connection(("127.0.0.1", webhook), timeout=10)
        tls = tls_context(ca, "http/1.1").wrap_socket(raw, server_hostname="localhost")
        tls.sendall(f"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
        out["review_status"] = int(answer[9:12])
    except Exception as error:  # noqa: BLE001 - reported, not raised
        out["review_error"] = repr(error)
    out["review_s"] = round(time.monotonic() - t0, 3)
    t0 = time.monotonic()
    try:
        raw = socket.create_connection(("127.0.0.1", admin), timeout=10)
        raw.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
        out["readyz_status"] = int(answer[9:12])
    except Exception as error:  # noqa: BLE001
        out["readyz_error"] = repr(error)
    out["readyz_s"] = round(time.monotonic() - t0, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "zero-window":
        asyncio.run(zero_window(int(args[0]), args[1], open(args[2], "rb").read(), int(args[3]), int(args[4])))
    elif cmd == "idle-flood":
        asyncio.run(idle_flood(int(args[0]), int(args[1]), float(args[2])))
    elif cmd == "probe":
        probe(int(args[0]), int(args[1]), args[2], open(args[3], "rb").read())
    else:
        sys.exit(f"unknown attack {cmd}")
