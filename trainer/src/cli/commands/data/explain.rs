//! `ajuste data explain`: the documentation of a finding code, from the code registry itself.

use ajuste_shared::Code;
use anyhow::{Result, bail};

use crate::cli::ExitStatus;
use crate::cli::args::ExplainArgs;

pub fn run(args: &ExplainArgs) -> Result<ExitStatus> {
    let Some(name) = &args.code else {
        for &code in Code::ALL {
            println!(
                "{:<24} {:<8} {}",
                code.as_str(),
                code.severity().as_str(),
                code.doc().what
            );
        }
        return Ok(ExitStatus::Success);
    };
    let Some(code) = Code::parse(name) else {
        bail!("unknown finding code `{name}`; `ajuste data explain` lists them all");
    };
    let doc = code.doc();
    println!(
        "{} ({}, since {})\n",
        code.as_str(),
        code.severity(),
        code.since()
    );
    println!("What it checks\n  {}\n", doc.what);
    println!("Why it matters\n  {}\n", doc.why);
    println!("Example\n  {}", doc.example);
    if let Some(hint) = code.hint() {
        println!("\nWhat to do\n  {hint}");
    }
    Ok(ExitStatus::Success)
}
