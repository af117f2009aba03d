//! Prints a named machine's state diagram, so diagrams can be regenerated without writing code.
//!
//! ```text
//! fsm-diagram <machine> <mermaid|plantuml>
//! cargo run -p fsm-examples --bin fsm-diagram -- retrievalprovider mermaid
//! ```
//!
//! Known machines: `retrievalprovider` (the retrieval provider deal machine, whose output is
//! kept in `docs/retrievalprovider.mmd` and `docs/retrievalprovider.puml`). Another machine is
//! one more entry in `MACHINES`. (The demo machine of the diagram golden files lives with those
//! tests, in `fsm-runtime/tests/diagram_golden.rs`.)

use std::fmt;
use std::process::ExitCode;

use fsm_runtime::Machine;
use fsm_runtime::diagram::{self, Format};
use retrieval_provider::DealStatus;
use retrieval_provider::machine::ProviderFsm;

/// A machine the binary can draw.
struct Known {
    /// The name given on the command line.
    name: &'static str,
    /// Draws the machine in a format.
    draw: fn(Format) -> String,
}

/// Every machine the binary can draw.
const MACHINES: &[Known] = &[Known {
    name: "retrievalprovider",
    // Drawn from `New`, like go-fil-markets' `docsgen`.
    draw: |format| diagram::render(format, ProviderFsm::table(), &[DealStatus::New]),
}];

const USAGE: &str = "usage: fsm-diagram <machine> <mermaid|plantuml>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("fsm-diagram: {error}");
            ExitCode::from(2)
        }
    }
}

/// What went wrong with the command line.
#[derive(Debug)]
enum UsageError {
    /// Not exactly two arguments.
    Arguments,
    /// A machine name the binary does not know.
    Machine(String),
    /// A format name that is not `mermaid` or `plantuml`.
    Format(diagram::UnknownFormat),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Arguments => f.write_str(USAGE),
            UsageError::Machine(name) => {
                let known: Vec<_> = MACHINES.iter().map(|machine| machine.name).collect();
                write!(f, "unknown machine `{name}` (known: {})", known.join(", "))
            }
            UsageError::Format(error) => error.fmt(f),
        }
    }
}

/// The diagram the arguments ask for.
fn run(args: &[String]) -> Result<String, UsageError> {
    let [machine, format] = args else {
        return Err(UsageError::Arguments);
    };
    let known = MACHINES
        .iter()
        .find(|known| known.name == machine)
        .ok_or_else(|| UsageError::Machine(machine.clone()))?;
    let format = format.parse::<Format>().map_err(UsageError::Format)?;
    Ok((known.draw)(format))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn draws_a_known_machine_in_both_formats() {
        let mermaid = run(&args(&["retrievalprovider", "mermaid"])).unwrap();
        assert!(mermaid.starts_with("stateDiagram-v2\n"));
        let plantuml = run(&args(&["retrievalprovider", "plantuml"])).unwrap();
        assert!(plantuml.starts_with("@startuml\n") && plantuml.ends_with("@enduml\n"));
    }

    #[test]
    fn prints_what_the_committed_provider_diagrams_hold() {
        for (format, file) in [
            (
                "mermaid",
                include_str!("../../../docs/retrievalprovider.mmd"),
            ),
            (
                "plantuml",
                include_str!("../../../docs/retrievalprovider.puml"),
            ),
        ] {
            assert_eq!(run(&args(&["retrievalprovider", format])).unwrap(), file);
        }
    }

    #[test]
    fn bad_arguments_give_one_line_errors() {
        let error = run(&args(&["nope", "mermaid"])).unwrap_err().to_string();
        assert_eq!(error, "unknown machine `nope` (known: retrievalprovider)");
        let error = run(&args(&["retrievalprovider", "svg"]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "unknown diagram format `svg` (expected `mermaid` or `plantuml`)"
        );
        let error = run(&args(&["retrievalprovider"])).unwrap_err().to_string();
        assert_eq!(error, USAGE);
    }
}
