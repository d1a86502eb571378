"""A lost database gives a polite typed error, writes nothing half-way, and recovers without a restart."""

from __future__ import annotations

import socket
import threading

import pytest

from bot.consultations import ConsultationService, DatabaseUnavailable
from bot.errors import UserFacingError


class Relay:
    """A TCP relay in front of PostgreSQL that the test can cut and restore (a real network fault)."""

    def __init__(self, target=("127.0.0.1", 5432)):
        self.target = target
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.up = True
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        self.up = False
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns.clear()

    def restore(self):
        self.up = True

    def close(self):
        self.cut()
        self.server.close()


def _count(svc: ConsultationService) -> int:
    return svc.reports.count_for_committee(None)


def test_postgres_outage_is_polite_atomic_and_recovers(migrated_pg_url):
    pg_url = migrated_pg_url
    ConsultationService(pg_url, use_embedding=False)  # sync the directory through the direct URL
    relay = Relay()
    try:
        url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{relay.port}")
        svc = ConsultationService(url, prepare=False, use_embedding=False)
        first = svc.submit("rest", "r1", "m1", "xingfu", "小区路灯坏了一个月没人修")
        assert first.created and _count(svc) == 1

        relay.cut()
        with pytest.raises(DatabaseUnavailable) as err:
            svc.submit("rest", "r1", "m2", "xingfu", "楼道里堆满杂物，存在消防隐患")
        assert isinstance(err.value, UserFacingError) and "稍后再试" in err.value.message
        with pytest.raises(DatabaseUnavailable):
            svc.status_for_resident(first.tracking_no, "rest", "r1")

        relay.restore()  # same service object, no restart
        again = svc.submit("rest", "r1", "m2", "xingfu", "楼道里堆满杂物，存在消防隐患")
        assert again.created and again.tracking_no != first.tracking_no
        assert _count(svc) == 2  # the failed attempt left nothing behind
        assert svc.status_for_resident(first.tracking_no, "rest", "r1").tracking_no == first.tracking_no
    finally:
        relay.close()


def test_unopenable_sqlite_file_is_polite_and_recovers(tmp_path):
    db = tmp_path / "data" / "linli.db"
    svc = ConsultationService(f"sqlite:///{db}", use_embedding=False)
    svc.submit("rest", "r1", "m1", "xingfu", "想在小区里增设几张休息长椅")
    svc.engine.dispose()
    moved = tmp_path / "moved"
    (tmp_path / "data").rename(moved)  # the database folder disappears (unmounted volume)
    (tmp_path / "data").write_text("not a folder")
    try:
        with pytest.raises(DatabaseUnavailable):
            svc.submit("rest", "r1", "m2", "xingfu", "广场舞音响太吵了")
    finally:
        (tmp_path / "data").unlink()
        moved.rename(tmp_path / "data")
    svc.engine.dispose()
    assert svc.submit("rest", "r1", "m2", "xingfu", "广场舞音响太吵了").created
    assert _count(svc) == 2
