//! A consumer keeps going across a Redis restart (own redis-server with `appendfsync always`).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use orch_bus::Bus;

use crate::support::*;

struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start(dir: &Path, port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "yes",
            ])
            .args(["--appendfsync", "always", "--dir"])
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/infra-up.sh)");
        Self { child, port }
    }

    async fn wait_ready(&self) {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on {} did not start", self.port);
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[tokio::test]
async fn a_consumer_resumes_after_redis_restarts() {
    let dir = std::env::temp_dir().join(format!("orch-redis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = free_port();
    let mut server = RedisServer::start(&dir, port);
    server.wait_ready().await;
    let bus = Bus::connect(&format!("redis://127.0.0.1:{port}"), fast_config()).expect("bus");

    let counter = Counter::default();
    let (stop, handle) = spawn_consumer(&bus, "survivor", counting(&counter));
    bus.publish(&stream(), &message(1)).await.expect("publish");
    counter.wait_for(1, Duration::from_secs(5)).await;

    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        bus.publish(&stream(), &message(2)).await.is_err(),
        "redis is down"
    );
    let server = RedisServer::start(&dir, port);
    server.wait_ready().await;

    for seq in 2..12 {
        publish_retrying(&bus, seq).await;
    }
    counter.wait_for(11, Duration::from_secs(15)).await;
    stop.cancel();
    handle.await.expect("joins");
    assert_eq!(pending(&bus).await, 0);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

async fn publish_retrying(bus: &Bus, seq: u64) {
    for _ in 0..50 {
        if bus.publish(&stream(), &message(seq)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not publish after the restart");
}
