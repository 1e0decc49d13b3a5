//! Typed graph state and the reducers that merge node updates into it.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The state a graph threads through its nodes.
///
/// Nodes never mutate the state: they return an [`State::Update`], and [`State::apply`] — the reducer — merges
/// it in. Updates of parallel tasks are applied one after another in task order at the join, so `apply` decides
/// how concurrent writes to one field combine (replace, append, add, merge).
///
/// Checkpoints store the serialized updates of each step (a delta) and, every few steps, the whole state, so
/// `apply` must be deterministic: replaying the same updates on the same snapshot gives the same state. Keep
/// the state bounded (ids and summaries; large artefacts belong in their own tables).
pub trait State: Clone + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// What one node returns.
    type Update: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Merges `update` into the state.
    fn apply(&mut self, update: Self::Update);
}

/// Ready-made reducers for the common field kinds, to call from [`State::apply`].
pub mod reducers {
    use super::*;

    /// Replaces `slot` when the update carries a value (last writer wins, in task order).
    pub fn replace<T>(slot: &mut T, value: Option<T>) {
        if let Some(value) = value {
            *slot = value;
        }
    }

    /// Appends `items` to `list` (parallel tasks' items end up in task order).
    pub fn append<T>(list: &mut Vec<T>, items: Vec<T>) {
        list.extend(items);
    }

    /// Adds `delta` to `total` when present (counters, token usage).
    pub fn add<T: AddAssign>(total: &mut T, delta: Option<T>) {
        if let Some(delta) = delta {
            *total += delta;
        }
    }

    /// Inserts or replaces the entries of `items` in `map`.
    pub fn merge<K: Ord, V>(map: &mut BTreeMap<K, V>, items: BTreeMap<K, V>) {
        map.extend(items);
    }
}

#[cfg(test)]
mod tests {
    use super::reducers::*;
    use std::collections::BTreeMap;

    #[test]
    fn reducers_do_what_their_names_say() {
        let mut slot = 1;
        replace(&mut slot, None);
        assert_eq!(slot, 1);
        replace(&mut slot, Some(2));
        assert_eq!(slot, 2);

        let mut list = vec![1];
        append(&mut list, vec![2, 3]);
        assert_eq!(list, [1, 2, 3]);

        let mut total = 5u64;
        add(&mut total, Some(3));
        add(&mut total, None);
        assert_eq!(total, 8);

        let mut map = BTreeMap::from([("a", 1), ("b", 2)]);
        merge(&mut map, BTreeMap::from([("b", 3), ("c", 4)]));
        assert_eq!(map, BTreeMap::from([("a", 1), ("b", 3), ("c", 4)]));
    }
}
