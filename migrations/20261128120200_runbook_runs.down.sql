DROP TABLE javari_runbook_step_runs;
DROP TABLE javari_runbook_runs;
