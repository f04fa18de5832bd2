-- +goose Up
-- Every change of a job that its watchers are told about (status, attempts,
-- progress counters, error) is announced on the NOTIFY channel
-- turnout_job_changes with the job id as payload, when its transaction
-- commits. Every API process listens on one connection and reads the job
-- again, so watchers on any process see a change made by any worker. A
-- heartbeat, which touches none of these columns, announces nothing.
-- +goose StatementBegin
CREATE FUNCTION notify_job_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('turnout_job_changes', NEW.id::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER jobs_notify_change AFTER UPDATE ON jobs FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
       OR OLD.attempts IS DISTINCT FROM NEW.attempts
       OR OLD.progress_total IS DISTINCT FROM NEW.progress_total
       OR OLD.progress_done IS DISTINCT FROM NEW.progress_done
       OR OLD.progress_failed IS DISTINCT FROM NEW.progress_failed
       OR OLD.error IS DISTINCT FROM NEW.error)
    EXECUTE FUNCTION notify_job_change();

-- +goose Down
DROP TRIGGER jobs_notify_change ON jobs;
DROP FUNCTION notify_job_change();
