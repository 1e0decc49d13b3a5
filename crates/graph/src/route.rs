//! Where control goes after a node: static edges, routers (conditional edges) and `Send` fan-out.

use serde::Serialize;
use serde_json::Value;

/// The virtual entry node: edges from START name the first nodes to run.
pub const START: &str = "__start__";
/// The virtual exit: a branch that reaches END stops; the run is done when no branch is left.
pub const END: &str = "__end__";

/// One destination chosen by a router.
#[derive(Debug, Clone, PartialEq)]
pub struct Route(pub(crate) RouteKind);

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RouteKind {
    To(String),
    Send { node: String, arg: Value },
    End,
    Invalid(String),
}

impl Route {
    /// Goes to `node` in the next super-step (several branches reaching one node run it once).
    pub fn to(node: impl Into<String>) -> Self {
        let node = node.into();
        if node == END {
            return Self::end();
        }
        Self(RouteKind::To(node))
    }

    /// Ends this branch.
    pub fn end() -> Self {
        Self(RouteKind::End)
    }

    /// Runs `node` as its own task with `arg` (read with [`crate::Ctx::arg`]): one task per Send, all in the
    /// next super-step, in parallel, their updates merged by the reducer at the join.
    pub fn send(node: impl Into<String>, arg: &impl Serialize) -> Self {
        let node = node.into();
        match serde_json::to_value(arg) {
            Ok(arg) => Self(RouteKind::Send { node, arg }),
            Err(e) => Self(RouteKind::Invalid(format!(
                "the Send argument for {node} does not serialize: {e}"
            ))),
        }
    }
}

/// What a router may return: one route, several, a node name, or nothing (`None` / empty = end).
pub trait IntoRoutes {
    /// Converts into the list of routes.
    fn into_routes(self) -> Vec<Route>;
}

impl IntoRoutes for Route {
    fn into_routes(self) -> Vec<Route> {
        vec![self]
    }
}

impl IntoRoutes for Vec<Route> {
    fn into_routes(self) -> Vec<Route> {
        self
    }
}

impl IntoRoutes for Option<Route> {
    fn into_routes(self) -> Vec<Route> {
        self.into_iter().collect()
    }
}

impl IntoRoutes for &str {
    fn into_routes(self) -> Vec<Route> {
        vec![Route::to(self)]
    }
}

impl IntoRoutes for String {
    fn into_routes(self) -> Vec<Route> {
        vec![Route::to(self)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_end_is_end_and_sends_carry_their_argument() {
        assert_eq!(Route::to(END), Route::end());
        assert_eq!(
            Route::send("dev", &7),
            Route(RouteKind::Send {
                node: "dev".into(),
                arg: Value::from(7)
            })
        );
        assert_eq!("a".into_routes(), vec![Route::to("a")]);
        assert!(None::<Route>.into_routes().is_empty());
    }

    #[test]
    fn an_unserializable_send_argument_becomes_an_invalid_route() {
        let bad = std::collections::HashMap::from([((1, 2), 3)]);
        assert!(matches!(Route::send("dev", &bad).0, RouteKind::Invalid(_)));
    }
}
