//! Failure and success thresholds: a Monitor goes Down after `failureThreshold` consecutive
//! failures and Up again after `successThreshold` consecutive successes, so one outage is one
//! incident however many checks fail during it.

use javari_crds::monitor::MonitorState;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub state: Option<MonitorState>,
    pub consecutive_failures: i32,
    pub consecutive_successes: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The failure threshold was just reached: open an incident, run the actions.
    WentDown,
    /// The success threshold was just reached after being down: resolve the incident.
    Recovered,
}

pub fn step(
    prev: Counters,
    passed: bool,
    failure_threshold: i32,
    success_threshold: i32,
) -> (Counters, Option<Transition>) {
    let down = prev.state == Some(MonitorState::Down);
    let (failures, successes) = if passed {
        (0, prev.consecutive_successes.saturating_add(1))
    } else {
        (prev.consecutive_failures.saturating_add(1), 0)
    };
    let (state, transition) = if !down && failures >= failure_threshold.max(1) {
        (MonitorState::Down, Some(Transition::WentDown))
    } else if down && successes >= success_threshold.max(1) {
        (MonitorState::Up, Some(Transition::Recovered))
    } else if down {
        (MonitorState::Down, None)
    } else if passed || prev.state == Some(MonitorState::Up) {
        (MonitorState::Up, None)
    } else {
        (prev.state.unwrap_or_default(), None)
    };
    (
        Counters {
            state: Some(state),
            consecutive_failures: failures,
            consecutive_successes: successes,
        },
        transition,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(results: &[bool], fail: i32, ok: i32) -> Vec<Option<Transition>> {
        let mut c = Counters::default();
        results
            .iter()
            .map(|passed| {
                let (next, t) = step(c, *passed, fail, ok);
                c = next;
                t
            })
            .collect()
    }

    #[test]
    fn one_outage_one_transition_each_way() {
        use Transition::*;
        let t = run(
            &[
                true, false, false, false, false, false, true, true, false, true, true,
            ],
            3,
            2,
        );
        assert_eq!(
            t,
            [
                None,
                None,
                None,
                Some(WentDown),
                None,
                None,
                None,
                Some(Recovered),
                None,
                None,
                None
            ]
        );
    }

    #[test]
    fn flapping_below_the_threshold_never_opens() {
        let t = run(&[false, false, true, false, false, true], 3, 1);
        assert!(t.iter().all(Option::is_none));
    }

    #[test]
    fn a_failure_while_recovering_restarts_the_count() {
        use Transition::*;
        let t = run(&[false, true, false, true, true], 1, 2);
        assert_eq!(t, [Some(WentDown), None, None, None, Some(Recovered)]);
    }
}
