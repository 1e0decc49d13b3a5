//! The scenarios' graphs and state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use orch_graph::effects::once_in_tx;
use orch_graph::state::reducers::{append, merge, replace};
use orch_graph::{Ctx, Graph, NodeError, START, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;

use crate::world::{count_run, external_call, say};

/// The fixture's state: visited nodes, who ran each node, a receipt, an answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Fx {
    pub visited: Vec<String>,
    pub by: BTreeMap<String, String>,
    pub receipt: Option<String>,
    pub answer: Option<String>,
}

/// An update of [`Fx`].
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FxUpdate {
    visited: Vec<String>,
    by: BTreeMap<String, String>,
    receipt: Option<String>,
    answer: Option<String>,
}

impl State for Fx {
    type Update = FxUpdate;

    fn apply(&mut self, u: FxUpdate) {
        append(&mut self.visited, u.visited);
        merge(&mut self.by, u.by);
        replace(&mut self.receipt, u.receipt.map(Some));
        replace(&mut self.answer, u.answer.map(Some));
    }
}

/// What the nodes need from the process.
pub struct Env {
    pub pool: PgPool,
    pub owner: String,
    pub delays: HashMap<String, u64>,
    pub fail: Option<String>,
    pub hang_after_call: bool,
    pub hang_after_record: bool,
    pub unstable_key: bool,
}

impl Env {
    /// The common start of every node: announce, count, optional delay and failure.
    async fn enter(&self, ctx: &Ctx) -> Result<FxUpdate, NodeError> {
        let node = ctx.node();
        say(&format!("enter {node}"));
        count_run(&self.pool, ctx.thread().thread_id(), node, &self.owner)
            .await
            .map_err(NodeError::msg)?;
        if let Some(ms) = self.delays.get(node) {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
        }
        if self.fail.as_deref() == Some(node) {
            return Err(NodeError::msg(format!("{node} failed on purpose")));
        }
        Ok(FxUpdate {
            visited: vec![node.to_owned()],
            by: BTreeMap::from([(node.to_owned(), self.owner.clone())]),
            ..FxUpdate::default()
        })
    }
}

async fn plain(env: Arc<Env>, ctx: Ctx) -> Result<FxUpdate, NodeError> {
    env.enter(&ctx).await
}

fn plain_node(
    env: &Arc<Env>,
) -> impl Fn(Arc<Fx>, Ctx) -> futures::future::BoxFuture<'static, Result<FxUpdate, NodeError>>
+ Send
+ Sync
+ 'static {
    let env = env.clone();
    move |_, ctx| Box::pin(plain(env.clone(), ctx))
}

/// n1 → n2 → n3 → n4 → n5.
pub fn chain(env: &Arc<Env>) -> Graph<Fx> {
    let mut b = Graph::builder();
    for n in ["n1", "n2", "n3", "n4", "n5"] {
        b = b.add_node(n, plain_node(env));
    }
    b.add_edge(START, "n1")
        .add_edge("n1", "n2")
        .add_edge("n2", "n3")
        .add_edge("n3", "n4")
        .add_edge("n4", "n5")
        .compile()
        .expect("valid graph")
}

/// START → a, b (parallel) → join → c.
pub fn parallel(env: &Arc<Env>) -> Graph<Fx> {
    Graph::builder()
        .add_node("a", plain_node(env))
        .add_node("b", plain_node(env))
        .add_node("c", plain_node(env))
        .add_edge(START, "a")
        .add_edge(START, "b")
        .add_join(&["a", "b"], "c")
        .compile()
        .expect("valid graph")
}

/// n1 → charge (external call with an idempotency key) → n3.
pub fn effect(env: &Arc<Env>) -> Graph<Fx> {
    let charge_env = env.clone();
    let charge = move |_: Arc<Fx>, ctx: Ctx| {
        let env = charge_env.clone();
        async move { charge(env, ctx).await }
    };
    Graph::builder()
        .add_node("n1", plain_node(env))
        .add_node("charge", charge)
        .add_node("n3", plain_node(env))
        .add_edge(START, "n1")
        .add_edge("n1", "charge")
        .add_edge("charge", "n3")
        .compile()
        .expect("valid graph")
}

async fn charge(env: Arc<Env>, ctx: Ctx) -> Result<FxUpdate, NodeError> {
    let mut update = env.enter(&ctx).await?;
    let key = match env.unstable_key {
        true => format!("{}/{}", ctx.effect_key("charge"), uuid::Uuid::new_v4()),
        false => ctx.effect_key("charge"),
    };
    let (pool, hang) = (env.pool.clone(), env.hang_after_call);
    let receipt: String = ctx
        .once_with_key(key, |key| async move {
            let receipt = external_call(&pool, &key).await.map_err(NodeError::msg)?;
            say(&format!("called {key}"));
            hang_if(hang).await;
            Ok::<_, NodeError>(receipt)
        })
        .await?;
    say("recorded");
    hang_if(env.hang_after_record).await;
    update.receipt = Some(receipt);
    Ok(update)
}

async fn hang_if(hang: bool) {
    if hang {
        say("hanging");
        std::future::pending::<()>().await;
    }
}

/// n1 → approve (upsert the spec, ask, notify) → n3.
pub fn approval(env: &Arc<Env>) -> Graph<Fx> {
    let approve_env = env.clone();
    let approve = move |_: Arc<Fx>, ctx: Ctx| {
        let env = approve_env.clone();
        async move { approve(env, ctx).await }
    };
    Graph::builder()
        .add_node("n1", plain_node(env))
        .add_node("approve", approve)
        .add_node("n3", plain_node(env))
        .add_edge(START, "n1")
        .add_edge("n1", "approve")
        .add_edge("approve", "n3")
        .compile()
        .expect("valid graph")
}

async fn approve(env: Arc<Env>, ctx: Ctx) -> Result<FxUpdate, NodeError> {
    let mut update = env.enter(&ctx).await?;
    let thread = ctx.thread().thread_id().to_owned();
    let spec_thread = thread.clone();
    once_in_tx(&env.pool, &ctx.effect_key("upsert-spec"), move |conn| {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO fx_specs (thread, body, writes) VALUES ($1, 'a weather bot', 1)
                 ON CONFLICT (thread) DO UPDATE SET writes = fx_specs.writes + 1",
            )
            .bind(spec_thread)
            .execute(conn)
            .await?;
            Ok(())
        })
    })
    .await?;
    let answer: String = ctx.interrupt(json!({ "question": "approve the spec?" }))?;
    let (at, said) = (ctx.now(), answer.clone());
    once_in_tx(&env.pool, &ctx.effect_key("notify"), move |conn| {
        Box::pin(async move {
            sqlx::query("INSERT INTO fx_notifications (thread, answer, at) VALUES ($1, $2, $3)")
                .bind(thread)
                .bind(said)
                .bind(at)
                .execute(conn)
                .await?;
            Ok(())
        })
    })
    .await?;
    update.answer = Some(answer);
    Ok(update)
}
