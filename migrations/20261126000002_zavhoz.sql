-- Zavhoz: why a resource was released, one live holder per server/domain/repository name, indexes for the
-- lease reaper, quota counts and handle revocation, and one user secret per name also without a project.

ALTER TABLE resources ADD COLUMN release_reason TEXT
    CHECK (release_reason IN ('released', 'expired'));
ALTER TABLE resources ADD CONSTRAINT resources_release_reason_with_released_at
    CHECK ((released_at IS NULL) = (release_reason IS NULL));

-- A server, a domain and a repository name are held by one live resource at a time (ports: see
-- resources_one_live_port).
CREATE UNIQUE INDEX resources_one_live_name ON resources (kind, name)
    WHERE kind IN ('server', 'domain', 'repository') AND released_at IS NULL;

-- The reaper scans live resources by lease end; quotas count live resources per owner and kind.
CREATE INDEX resources_live_by_lease ON resources (lease_expires_at) WHERE released_at IS NULL;
CREATE INDEX resources_live_by_owner ON resources (owner_user_id, kind) WHERE released_at IS NULL;

-- Releasing a resource revokes its handles.
CREATE INDEX secret_handles_by_resource ON secret_handles (resource_id);

-- One secret per name per person and project, also when there is no project (NULLs not distinct).
ALTER TABLE user_secrets DROP CONSTRAINT user_secrets_owner_user_id_project_id_name_key;
CREATE UNIQUE INDEX user_secrets_one_name ON user_secrets (owner_user_id, project_id, name) NULLS NOT DISTINCT;
ALTER TABLE user_secrets ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now();
