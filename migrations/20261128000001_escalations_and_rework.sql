-- Questions to the person about a task (escalations name the task they are about), and failures counted apart
-- from spawns: a task's `attempts` counts every worker it had (first run, retries, reworks after a review), so
-- each worker gets its own id; `failures` counts the consecutive failed ones (a second failure asks a person).

ALTER TABLE escalations
    ADD COLUMN task_id UUID REFERENCES tasks(id);

ALTER TABLE tasks
    ADD COLUMN failures INT NOT NULL DEFAULT 0 CHECK (failures >= 0);

CREATE INDEX escalations_open_by_run ON escalations (run_id, asked_at) WHERE status = 'open';
