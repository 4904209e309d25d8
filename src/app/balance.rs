//! Spreading sources over replicas (issue 14 item 3): every replica writes a heartbeat to the state
//! index each round (a third of the lease TTL), reads the live replicas and the leases, and decides
//! which of the configured sources it wants to hold. The lease loops of `wiring` take or hand over
//! leases accordingly; the leases (conditional writes) stay what guarantees one owner at a time, this
//! module only decides who *tries*.
//!
//! The plan ([`Balancer::round`]) is pure: with `S` sources and `R` live replicas, a replica aims at
//! between `floor(S/R)` and `ceil(S/R)` sources.
//!
//! * **Take:** a free source (no lease, an expired or released one) is taken by a replica below
//!   `ceil(S/R)` that holds no more than any other live replica (the poorest take first), preferring
//!   the sources that rank highest for it by rendezvous hashing (`hash(source, replica)`), so
//!   replicas starting together mostly want different sources. A source free for
//!   [`FREE_FALLBACK_ROUNDS`] rounds is taken by anyone below the ceiling, and by anyone at all after
//!   twice as many (configurations that differ between replicas must not leave a source orphaned).
//! * **Hand over:** a replica above `ceil(S/R)` gives up its extra sources, and a replica above
//!   `floor(S/R)` gives up one when another live replica is below `floor(S/R)` and it is the richest
//!   (ties: the smallest id). It gives up the sources that rank lowest for it.
//! * **Hysteresis:** a hand-over happens only when its condition held for [`RELEASE_ROUNDS`]
//!   consecutive rounds, a replica does not take back for [`RETAKE_QUIET_ROUNDS`] rounds what it
//!   handed over, and the first round after start only registers (so replicas started together see
//!   each other before anyone takes anything).

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Consecutive rounds a hand-over condition must hold.
pub const RELEASE_ROUNDS: u32 = 2;
/// Rounds a free source waits for its preferred taker before any replica below the ceiling takes it.
pub const FREE_FALLBACK_ROUNDS: u32 = 3;
/// Rounds a replica leaves alone a source it handed over.
pub const RETAKE_QUIET_ROUNDS: u32 = 4;

/// Rendezvous score of `source` for `replica` (FNV-1a, then a SplitMix64 finaliser): the same on
/// every replica and every run.
pub fn score(source: &str, replica: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in source.bytes().chain([0u8]).chain(replica.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// What a round sees.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Live replicas (heartbeat not expired), this one included or not.
    pub live: Vec<String>,
    /// The sources this replica holds (its lease loops' own account).
    pub held: BTreeSet<String>,
    /// Each configured source's current lease as the state index shows it: owner and whether it
    /// is unexpired. Missing = no document.
    pub leases: HashMap<String, (String, bool)>,
}

/// The sources this replica wants after a round, and what changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub want: BTreeSet<String>,
    pub take: Vec<String>,
    pub release: Vec<String>,
}

/// The state kept between rounds (hysteresis).
#[derive(Debug)]
pub struct Balancer {
    me: String,
    sources: Vec<String>,
    rounds: u64,
    release_streak: u32,
    free_for: HashMap<String, u32>,
    released_at: HashMap<String, u64>,
    /// Sources taken after waiting orphaned (a configuration other replicas may lack): not counted
    /// against the share, never handed over by the plan (that would flap).
    adopted: BTreeSet<String>,
}

impl Balancer {
    pub fn new(me: impl Into<String>, sources: impl IntoIterator<Item = String>) -> Self {
        let mut sources: Vec<String> = sources.into_iter().collect();
        sources.sort();
        sources.dedup();
        Balancer {
            me: me.into(),
            sources,
            rounds: 0,
            release_streak: 0,
            free_for: HashMap::new(),
            released_at: HashMap::new(),
            adopted: BTreeSet::new(),
        }
    }

    /// `(floor, ceil)` of the fair share with `live` replicas (this one counted).
    pub fn bounds(&self, live: usize) -> (usize, usize) {
        let r = live.max(1);
        let s = self.sources.len();
        (s / r, s.div_ceil(r))
    }

    /// One round: what this replica wants to hold now.
    pub fn round(&mut self, obs: &Observed) -> Plan {
        self.rounds += 1;
        let me_owned = self.me.clone();
        let me = me_owned.as_str();
        let mut live: BTreeSet<&str> = obs.live.iter().map(String::as_str).collect();
        live.insert(me);
        let (lo, hi) = self.bounds(live.len());
        // sources held per live replica (unexpired leases of configured sources; mine from `held`)
        let mut count: BTreeMap<&str, usize> = live.iter().map(|r| (*r, 0)).collect();
        let mut free = Vec::new();
        for s in &self.sources {
            if obs.held.contains(s) {
                continue;
            }
            match obs.leases.get(s) {
                Some((owner, true)) if owner != me => {
                    if let Some(c) = count.get_mut(owner.as_str()) {
                        *c += 1;
                    }
                }
                _ => free.push(s.clone()),
            }
        }
        self.adopted.retain(|s| obs.held.contains(s));
        let rounds = self.rounds;
        // being handed over (the lease loop finishes its window first): neither counted nor
        // handed over again
        let releasing_set: BTreeSet<String> = obs
            .held
            .iter()
            .filter(|s| {
                self.released_at
                    .get(*s)
                    .is_some_and(|r| rounds - r <= u64::from(RETAKE_QUIET_ROUNDS))
            })
            .cloned()
            .collect();
        let releasing = |s: &String| releasing_set.contains(s);
        let counted: Vec<String> = obs
            .held
            .iter()
            .filter(|s| self.sources.contains(s) && !releasing(s) && !self.adopted.contains(*s))
            .cloned()
            .collect();
        let mine = counted.len();
        count.insert(me, mine);
        // free-for counters: reset for sources that are owned
        let free_set: BTreeSet<&String> = free.iter().collect();
        self.free_for.retain(|k, _| free_set.contains(k));
        for s in &free {
            *self.free_for.entry(s.clone()).or_insert(0) += 1;
        }
        let mut plan = Plan {
            want: obs.held.iter().filter(|s| !releasing(s)).cloned().collect(),
            ..Plan::default()
        };
        if self.rounds == 1 {
            // register first: replicas started together see each other before taking
            return plan;
        }
        // hand over
        let others_min = count
            .iter()
            .filter(|(r, _)| **r != me)
            .map(|(_, c)| *c)
            .min();
        let richest = count
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(r, _)| *r);
        let extra = if mine > hi {
            mine - hi
        } else if mine > lo && others_min.is_some_and(|m| m < lo) && richest == Some(me) {
            1
        } else {
            0
        };
        if extra > 0 {
            self.release_streak += 1;
        } else {
            self.release_streak = 0;
        }
        if extra > 0 && self.release_streak >= RELEASE_ROUNDS {
            self.release_streak = 0;
            let mut held = counted;
            held.sort_by_key(|s| (score(s, me), s.clone()));
            for s in held.into_iter().take(extra) {
                plan.want.remove(&s);
                plan.release.push(s.clone());
                self.released_at.insert(s.clone(), self.rounds);
            }
            return plan;
        }
        // take
        let poorest = others_min.is_none_or(|m| mine <= m);
        let mut candidates: Vec<&String> = free
            .iter()
            .filter(|s| {
                let waited = self.free_for.get(*s).copied().unwrap_or(0);
                let quiet = self
                    .released_at
                    .get(*s)
                    .is_none_or(|r| self.rounds - r > u64::from(RETAKE_QUIET_ROUNDS));
                waited >= 2 * FREE_FALLBACK_ROUNDS
                    || (quiet && mine < hi && (poorest || waited >= FREE_FALLBACK_ROUNDS))
            })
            .collect();
        candidates.sort_by_key(|s| (std::cmp::Reverse(score(s, me)), (*s).clone()));
        let room = hi.saturating_sub(mine);
        for (i, s) in candidates.into_iter().enumerate() {
            let waited = self.free_for.get(s).copied().unwrap_or(0);
            if i >= room && waited < 2 * FREE_FALLBACK_ROUNDS {
                continue;
            }
            if i >= room {
                self.adopted.insert(s.clone());
            }
            plan.want.insert(s.clone());
            plan.take.push(s.clone());
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates replicas on a shared lease table, each round in turn, takes always succeeding
    /// when the source is free.
    struct World {
        replicas: Vec<Balancer>,
        owner: BTreeMap<String, String>,
    }

    impl World {
        fn new(ids: &[&str], n: usize) -> Self {
            let sources: Vec<String> = (0..n).map(|i| format!("logpull-zone{i}")).collect();
            World {
                replicas: ids
                    .iter()
                    .map(|id| Balancer::new(*id, sources.clone()))
                    .collect(),
                owner: BTreeMap::new(),
            }
        }
        fn step(&mut self) -> usize {
            let mut moves = 0;
            let live: Vec<String> = self.replicas.iter().map(|b| b.me.clone()).collect();
            for b in &mut self.replicas {
                let held: BTreeSet<String> = self
                    .owner
                    .iter()
                    .filter(|(_, o)| **o == b.me)
                    .map(|(s, _)| s.clone())
                    .collect();
                let leases = self
                    .owner
                    .iter()
                    .map(|(s, o)| (s.clone(), (o.clone(), true)))
                    .collect();
                let plan = b.round(&Observed {
                    live: live.clone(),
                    held,
                    leases,
                });
                for s in &plan.release {
                    self.owner.remove(s);
                    moves += 1;
                }
                for s in &plan.take {
                    if !self.owner.contains_key(s) {
                        self.owner.insert(s.clone(), b.me.clone());
                        moves += 1;
                    }
                }
            }
            moves
        }
        fn counts(&self) -> BTreeMap<String, usize> {
            let mut c: BTreeMap<String, usize> =
                self.replicas.iter().map(|b| (b.me.clone(), 0)).collect();
            for o in self.owner.values() {
                *c.entry(o.clone()).or_insert(0) += 1;
            }
            c
        }
        fn settle(&mut self) -> usize {
            let mut total = 0;
            for _ in 0..40 {
                total += self.step();
            }
            total
        }
    }

    fn spread(c: &BTreeMap<String, usize>) -> usize {
        c.values().max().unwrap() - c.values().min().unwrap()
    }

    #[test]
    fn three_replicas_started_together_split_evenly() {
        for n in [3, 4, 6, 7, 10] {
            let mut w = World::new(&["a", "b", "c"], n);
            w.settle();
            assert_eq!(w.owner.len(), n, "every source owned");
            assert!(spread(&w.counts()) <= 1, "{n}: {:?}", w.counts());
            // stable: no more moves
            assert_eq!(w.settle(), 0, "{n}: thrashing");
        }
    }

    #[test]
    fn join_leave_rebalance_without_thrashing() {
        let mut w = World::new(&["a"], 6);
        w.settle();
        assert_eq!(w.counts()["a"], 6);
        // b and c join
        let sources: Vec<String> = (0..6).map(|i| format!("logpull-zone{i}")).collect();
        w.replicas.push(Balancer::new("b", sources.clone()));
        w.replicas.push(Balancer::new("c", sources.clone()));
        let moves = w.settle();
        assert_eq!(w.counts().values().copied().collect::<Vec<_>>(), [2, 2, 2]);
        // 4 sources move (each a release and a take)
        assert_eq!(moves, 8);
        assert_eq!(w.settle(), 0);
        // c leaves: its sources are free (its leases expire), a and b take them
        w.replicas.pop();
        w.owner.retain(|_, o| o != "c");
        w.settle();
        assert_eq!(w.counts().values().copied().collect::<Vec<_>>(), [3, 3]);
        assert_eq!(w.settle(), 0);
    }

    #[test]
    fn single_replica_takes_everything_after_registering() {
        let mut b = Balancer::new("a", ["x".to_string(), "y".to_string()]);
        let first = b.round(&Observed::default());
        assert!(first.want.is_empty());
        let second = b.round(&Observed::default());
        assert_eq!(second.want.len(), 2);
    }

    #[test]
    fn orphaned_source_is_taken_eventually_even_at_the_ceiling() {
        // b's configuration lacks "z": a is at its ceiling (1 of 2) but takes it after waiting
        let mut a = Balancer::new("a", ["x".to_string(), "z".to_string()]);
        let obs = Observed {
            live: vec!["a".into(), "b".into()],
            held: ["x".to_string()].into(),
            leases: [("x".to_string(), ("a".to_string(), true))].into(),
        };
        let mut took = None;
        for i in 0..20 {
            if a.round(&obs).take.contains(&"z".to_string()) {
                took = Some(i);
                break;
            }
        }
        assert!(took.is_some());
    }

    #[test]
    fn scores_differ_per_replica() {
        let a: Vec<u64> = (0..5).map(|i| score(&format!("s{i}"), "a")).collect();
        let b: Vec<u64> = (0..5).map(|i| score(&format!("s{i}"), "b")).collect();
        assert_ne!(a, b);
        assert_eq!(score("s", "a"), score("s", "a"));
    }
}
