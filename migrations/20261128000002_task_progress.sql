-- The chat message that announced a batch of started workers (its `ref_key`); the graph-runner edits it with
-- each running worker's latest log line.
ALTER TABLE tasks ADD COLUMN progress_ref TEXT;
CREATE INDEX tasks_running_progress ON tasks (progress_ref) WHERE status = 'running';
