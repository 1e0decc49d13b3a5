//! Reliability test 11: an approval interrupt survives a process restart and is answered an hour later.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::procs::{World, json_after};

const SECS_30: Duration = Duration::from_secs(30);

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn test11_an_interrupt_survives_a_restart_and_the_approval_takes_effect_once(pool: PgPool) {
    let world = World::new(pool).await;
    let mut first = world
        .start(&["--scenario", "approval", "--stay-alive"])
        .await;
    first.wait_for("staying alive", SECS_30).await;
    let interrupts = json_after(&first.seen, "interrupted ");
    assert_eq!(interrupts[0]["payload"]["question"], "approve the spec?");
    let asked_at: DateTime<Utc> =
        serde_json::from_value(interrupts[0]["asked_at"].clone()).expect("time");
    first.kill9().await;
    assert_eq!(world.runs_of(&["n1", "approve", "n3"]).await, [1, 1, 0]);
    assert_eq!(
        world.scalar("SELECT count(*) FROM fx_notifications").await,
        0
    );

    // The restarted process answers "one hour later" (its clock runs 3600 s ahead).
    let resume = [
        "--scenario",
        "approval",
        "--resume",
        "approved",
        "--clock-offset-secs",
        "3600",
    ];
    let (code, lines) = world.start(&resume).await.exit(SECS_30).await;
    assert_eq!(code, 0, "{lines:?}");
    let waited: i64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("waited "))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no waited line: {lines:?}"));
    assert!(waited >= 3600, "answered {waited} s after the question");
    assert_eq!(json_after(&lines, "done ")["answer"], "approved");
    assert_eq!(
        world.runs_of(&["n1", "approve", "n3"]).await,
        [1, 2, 1],
        "resumed at the node's start"
    );
    assert_eq!(
        world.scalar("SELECT writes::int8 FROM fx_specs").await,
        1,
        "the pre-interrupt upsert ran once"
    );
    assert_eq!(
        world.scalar("SELECT count(*) FROM fx_notifications").await,
        1,
        "the approval took effect once"
    );
    let notified_at: DateTime<Utc> = sqlx::query_scalar("SELECT at FROM fx_notifications")
        .fetch_one(&world.pool)
        .await
        .expect("row");
    assert!(notified_at - asked_at >= chrono::TimeDelta::hours(1));

    // A duplicate approval (a redelivered button press) finds nothing to resume.
    let (code, lines) = world.start(&resume).await.exit(SECS_30).await;
    assert_eq!(code, 4, "{lines:?}");
    assert_eq!(
        world.scalar("SELECT count(*) FROM fx_notifications").await,
        1
    );
    assert_eq!(world.runs("approve").await, 2);
}
