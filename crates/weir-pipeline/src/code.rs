//! The catalogue of diagnostic codes. Codes are stable: a code keeps its meaning forever,
//! retired codes are never reused. `cargo xtask codegen` writes `docs/diagnostics.md` from this table.

macro_rules! codes {
    ($($variant:ident = $code:literal, $severity:ident, $summary:literal;)*) => {
        /// A stable diagnostic code, such as `E0102`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as printed, e.g. `E0102`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            /// One line telling what the code means.
            pub fn summary(self) -> &'static str {
                match self {
                    $(Code::$variant => $summary,)*
                }
            }

            /// Whether the problem is an error or a warning (which `--strict` turns into an error).
            pub fn severity(self) -> crate::Severity {
                match self {
                    $(Code::$variant => crate::Severity::$severity,)*
                }
            }
        }
    };
}

codes! {
    Syntax = "E0001", Error, "the file is not valid YAML or JSON";
    NotAMapping = "E0002", Error, "the document, a step or a block must be a mapping of keys to values";
    DuplicateKey = "E0003", Error, "a key appears twice in the same mapping";
    UnknownKey = "E0101", Error, "a key that the format does not define (often a typo)";
    UnknownNeed = "E0102", Error, "`needs` names a step that does not exist";
    DuplicateId = "E0103", Error, "two steps have the same id";
    BadId = "E0104", Error, "a step id is not made of lowercase letters, digits and `_`";
    BadName = "E0105", Error, "the pipeline name is not made of lowercase letters, digits, `-`, `_` and `.`";
    MissingKey = "E0106", Error, "a required key is missing";
    WrongType = "E0107", Error, "a value has the wrong type or is out of range";
    Cycle = "E0108", Error, "steps depend on each other in a cycle";
    UnknownKind = "E0109", Error, "`uses` names a step kind that does not exist";
    BadConfig = "E0110", Error, "a step's `with` block does not match its kind's configuration";
    ExprSyntax = "E0111", Error, "a jq expression does not parse or calls an undefined filter";
    NotAncestor = "E0112", Error, "an expression reads `.steps.X` of a step that cannot have finished before it";
    UnknownStepRef = "E0113", Error, "an expression reads `.steps.X` of a step that does not exist";
    BadDuration = "E0114", Error, "a duration is not a number with a unit (`250ms`, `5s`, `2m`, `1h`)";
    BadInputSchema = "E0115", Error, "the `input` block is not a valid JSON Schema";
    BadHandler = "E0116", Error, "`on_error` names a step that cannot serve as an error handler";
    BadVersion = "E0117", Error, "`version` is not a semantic version such as `1.2.0`";
    SelfNeed = "E0118", Error, "a step lists itself, or the same step twice, in `needs`";
    NoSteps = "E0119", Error, "the pipeline has no steps";
    BadTest = "E0120", Error, "a `tests` case refers to something the pipeline does not have";
    MissingFile = "E0121", Error, "a referenced pipeline file cannot be read";
    ImportCycle = "E0122", Error, "pipeline files call each other in a cycle";
    UnusedOutput = "W0201", Warning, "a step without side effects whose output nothing reads";
    UnusedHandler = "W0202", Warning, "a handler step can never run because no step names it in `on_error`";
}
