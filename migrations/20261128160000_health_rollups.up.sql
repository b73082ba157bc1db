-- Health-check history that stays fast: raw rows for 48 hours, one row per Monitor and hour
-- for 90 days, one per Monitor and day for two years. Each rollup row keeps the counts and a
-- response-time histogram (fixed bucket bounds, see javari_core::history::BUCKETS_MS) so
-- uptime and percentiles of any window are sums over a few rows.

CREATE TABLE javari_health_check_hourly (
    monitor_namespace text NOT NULL,
    monitor_name      text NOT NULL,
    hour              timestamptz NOT NULL CHECK (date_trunc('hour', hour) = hour),
    checks            integer NOT NULL CHECK (checks >= 0),
    up                integer NOT NULL CHECK (up >= 0 AND up <= checks),
    response_sum_ms   bigint NOT NULL DEFAULT 0,
    response_count    integer NOT NULL DEFAULT 0,
    histogram         integer[] NOT NULL,
    PRIMARY KEY (monitor_namespace, monitor_name, hour)
);

CREATE INDEX idx_javari_health_check_hourly_hour ON javari_health_check_hourly (hour);

CREATE TABLE javari_health_check_daily (
    monitor_namespace text NOT NULL,
    monitor_name      text NOT NULL,
    day               date NOT NULL,
    checks            integer NOT NULL CHECK (checks >= 0),
    up                integer NOT NULL CHECK (up >= 0 AND up <= checks),
    response_sum_ms   bigint NOT NULL DEFAULT 0,
    response_count    integer NOT NULL DEFAULT 0,
    histogram         integer[] NOT NULL,
    PRIMARY KEY (monitor_namespace, monitor_name, day)
);

CREATE INDEX idx_javari_health_check_daily_day ON javari_health_check_daily (day);

-- How far the rollups reach: every raw row before hourly_until is in an hourly row, every
-- hourly row before daily_until in a daily row. One row.
CREATE TABLE javari_health_rollup_state (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    hourly_until timestamptz,
    daily_until  date,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

INSERT INTO javari_health_rollup_state (id) VALUES (true);
