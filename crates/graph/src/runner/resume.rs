//! Answering interrupts: which are pending, which answer goes to which task, the resume writes.

use serde::Deserialize;
use serde_json::Value;

use super::invoke::{refused, state_error};
use crate::checkpoint::{PendingWrite, channels};
use crate::command::{Interrupt, ResumeWith};
use crate::error::{GraphError, InputRefused};
use crate::thread::ThreadKey;

/// Returns the interrupts of the head's pending writes that have no answer yet, in task order.
pub(super) fn pending_interrupts(
    writes: &[PendingWrite],
    thread: &ThreadKey,
) -> Result<Vec<Interrupt>, GraphError> {
    let mut pending = Vec::new();
    for write in writes.iter().filter(|w| w.channel == channels::INTERRUPT) {
        let interrupt = Interrupt::deserialize(&write.value)
            .map_err(|e| state_error(thread, format!("stored interrupt: {e}")))?;
        if answers_of(writes, &write.task_id, thread)?.len() <= interrupt.index {
            pending.push(interrupt);
        }
    }
    Ok(pending)
}

fn answers_of(
    writes: &[PendingWrite],
    task_id: &str,
    thread: &ThreadKey,
) -> Result<Vec<Value>, GraphError> {
    match writes
        .iter()
        .find(|w| w.channel == channels::RESUME && w.task_id == task_id)
    {
        Some(w) => Vec::deserialize(&w.value)
            .map_err(|e| state_error(thread, format!("resume values: {e}"))),
        None => Ok(Vec::new()),
    }
}

pub(super) fn match_answers(
    thread: &ThreadKey,
    pending: &[Interrupt],
    resume: ResumeWith,
) -> Result<Vec<(String, Value)>, GraphError> {
    if pending.is_empty() {
        return Err(refused(thread, InputRefused::NotInterrupted));
    }
    match resume {
        ResumeWith::One(value) => match pending {
            [only] => Ok(vec![(only.task_id.clone(), value)]),
            many => Err(refused(
                thread,
                InputRefused::AmbiguousResume(many.iter().map(|i| i.task_id.clone()).collect()),
            )),
        },
        ResumeWith::ByTask(answers) => answers
            .into_iter()
            .map(
                |(task, value)| match pending.iter().any(|i| i.task_id == task) {
                    true => Ok((task, value)),
                    false => Err(refused(thread, InputRefused::UnknownInterrupt(task))),
                },
            )
            .collect(),
    }
}

pub(super) fn resume_writes(
    writes: &[PendingWrite],
    answers: Vec<(String, Value)>,
    thread: &ThreadKey,
) -> Result<Vec<PendingWrite>, GraphError> {
    answers
        .into_iter()
        .map(|(task_id, value)| {
            let mut list = answers_of(writes, &task_id, thread)?;
            list.push(value);
            Ok(PendingWrite {
                task_id,
                idx: channels::RESUME_IDX,
                channel: channels::RESUME.to_owned(),
                value: Value::from(list),
            })
        })
        .collect()
}
