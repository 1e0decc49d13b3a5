//! The fault-injection consumer process of the reliability tests; prints `ready` once it consumes.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use orch_bus::{Bus, Consumer, Delivery, Group};
use orch_chaos::effect::EffectHandler;
use orch_chaos::{FixtureArgs, GROUP, STREAM};
use orch_contracts::messages::worker::WorkerProgress;
use orch_contracts::{Envelope, StreamKey};
use sqlx::postgres::PgPoolOptions;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = FixtureArgs::parse();
    let _telemetry = orch_telemetry::init(&orch_telemetry::TelemetryConfig {
        service: "chaos-consumer",
        format: orch_telemetry::LogFormat::Pretty,
        filter: "warn".into(),
        otlp_endpoint: None,
    })?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&args.database_url)
        .await
        .context("database")?;
    let bus = Bus::connect(&args.redis_url, args.bus_config())?;
    let shutdown = orch_service_kit::shutdown::on_signals()?;
    let handler = EffectHandler {
        pool,
        args: args.clone(),
    };
    let stream = StreamKey::from(STREAM);
    if args.ack_before_handling {
        return ack_first_loop(&bus, &stream, handler).await;
    }
    let group = Group::new(&bus, &stream, GROUP, &args.name);
    group.ensure().await?;
    println!("ready");
    let consumer = Consumer::new(
        &bus,
        &stream,
        GROUP,
        &args.name,
        move |d: Delivery<WorkerProgress>| {
            let handler = handler.clone();
            async move { handler.apply(d).await }
        },
    );
    consumer.run(shutdown).await?;
    Ok(())
}

/// Negative control: the broken order (ack, then handle) that test 1 must catch.
async fn ack_first_loop(
    bus: &Bus,
    stream: &StreamKey,
    handler: EffectHandler,
) -> anyhow::Result<()> {
    let group = Group::new(bus, stream, GROUP, &handler.args.name);
    group.ensure().await?;
    println!("ready");
    loop {
        for entry in group.read_new(1, Duration::from_millis(500)).await? {
            group.ack(std::slice::from_ref(&entry.id)).await?;
            let envelope = Envelope::<WorkerProgress>::from_fields(&entry.fields)?;
            let delivery = Delivery {
                envelope,
                entry_id: entry.id,
                deliveries: entry.deliveries,
            };
            let _ = handler.apply(delivery).await;
        }
    }
}
