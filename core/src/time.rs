//! Conversions between chrono (storage, schedules) and the Kubernetes `Time` (jiff), at whole
//! seconds: Kubernetes serializes times to the second, so comparing statuses stays exact.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

pub fn to_k8s(t: DateTime<Utc>) -> Time {
    Time(Timestamp::from_second(t.timestamp()).unwrap_or(Timestamp::UNIX_EPOCH))
}

pub fn from_k8s(t: &Time) -> DateTime<Utc> {
    DateTime::from_timestamp(t.0.as_second(), 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_second_precision() {
        let now = Utc::now();
        let back = from_k8s(&to_k8s(now));
        assert_eq!(back.timestamp(), now.timestamp());
        assert_eq!(back.timestamp_subsec_nanos(), 0);
    }
}
