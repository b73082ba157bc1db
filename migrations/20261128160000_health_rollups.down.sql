DROP TABLE IF EXISTS javari_health_rollup_state;
DROP TABLE IF EXISTS javari_health_check_daily;
DROP TABLE IF EXISTS javari_health_check_hourly;
