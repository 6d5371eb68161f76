//! The words a job, its actions and its deliveries are stored and shown with (`running`,
//! `send_file`, `skipped`): each an enum with one word per variant, read back by `FromStr`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An enum stored and serialised as fixed words, read back by `FromStr`.
macro_rules! worded_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $word)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!("unknown {} {s:?}", $what))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

worded_enum! {
    /// Where a job stands. `Done` and `Failed` are final: its actions ran (a failed one names
    /// why); what detection says afterwards is the job's `result`.
    JobState, "job state" {
        /// Actions remain; the job advances slice by slice, by whoever owns it.
        Running = "running",
        /// Every action is done or skipped.
        Done = "done",
        /// Every action ran, and at least one failed.
        Failed = "failed",
    }
}

worded_enum! {
    /// What an action does.
    ActionKind, "action kind" {
        /// Scrape a (date, market) again.
        Scrape = "scrape",
        /// Hand one stored file to Phase 2's loader (at most once, ever).
        SendFile = "send_file",
    }
}

worded_enum! {
    /// Where an action stands. `Done` and `Skipped` are final.
    ActionState, "action state" {
        Pending = "pending",
        Running = "running",
        Done = "done",
        Failed = "failed",
        /// Nothing to do after all (the file was already sent by another job, …).
        Skipped = "skipped",
    }
}

worded_enum! {
    /// Where a file delivery stands.
    FileSendState, "file send state" {
        /// Claimed before sending; no answer recorded yet. Left behind by a crash, it is
        /// *unconfirmed*: never re-sent automatically.
        Claimed = "claimed",
        /// The downstream answered 2xx.
        Sent = "sent",
    }
}

worded_enum! {
    /// Where a claim stood after one piece of evidence (Phase 2's answer, or a check of the
    /// table's rows under the file's `source_file_path`).
    ClaimOutcome, "claim outcome" {
        /// Loaded: Phase 2 answered 2xx, the table holds rows from the file, or a person said so.
        Confirmed = "confirmed",
        /// Certainly not loaded (refused, never reached, or no rows long after the send): a
        /// later recovery may send the file once.
        Released = "released",
        /// Not known yet: the request went out without an answer, or the table could not be
        /// read. Never re-sent until evidence settles it.
        Unconfirmed = "unconfirmed",
    }
}

worded_enum! {
    /// Where a piece of evidence about a claim came from.
    EvidenceSource, "evidence source" {
        /// Phase 2's answer to the hand-over (or its absence).
        Answer = "phase2_answer",
        /// A check of the rows in Phase 2's table under the file's path.
        Table = "table",
        /// A person, with `backstop claims confirm|release`.
        Person = "person",
    }
}

impl JobState {
    /// `Done` and `Failed` never change again.
    pub fn is_final(self) -> bool {
        self != JobState::Running
    }
}

impl ActionState {
    /// `Done` and `Skipped` never change again.
    pub fn is_final(self) -> bool {
        matches!(self, ActionState::Done | ActionState::Skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_unknown_ones_are_named() {
        for k in ActionKind::ALL {
            assert_eq!(k.as_str().parse::<ActionKind>().unwrap(), *k);
        }
        for s in ActionState::ALL {
            assert_eq!(s.to_string().parse::<ActionState>().unwrap(), *s);
        }
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>().unwrap(), *s);
        }
        assert_eq!(
            serde_json::to_string(&JobState::Running).unwrap(),
            "\"running\""
        );
        assert_eq!(
            serde_json::to_string(&ActionKind::SendFile).unwrap(),
            "\"send_file\""
        );
        let err = "sending".parse::<FileSendState>().unwrap_err();
        assert!(
            err.contains("file send state") && err.contains("sending"),
            "{err}"
        );
    }
}
