use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The image file.
    pub file: std::path::PathBuf,
}

pub fn run(_args: Args) -> Result<ExitCode, String> {
    Err("inspect is not built yet".into())
}
