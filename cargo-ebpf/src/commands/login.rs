//! `cargo ebpf login` and `logout`.

use clap::Args;
use ebpf_cli::TransportArgs;

use crate::error::Result;
use crate::remote;

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The registry: HOST or HOST:PORT (a repository path after it is ignored)
    pub registry: String,
    /// User name (asked on a terminal when missing)
    #[arg(long, short = 'u')]
    pub username: Option<String>,
    /// Read the password or token from standard input
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub transport: TransportArgs,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// The registry: HOST or HOST:PORT
    pub registry: String,
}

pub fn login(a: LoginArgs) -> Result<()> {
    let stored_in = remote::login(&remote::LoginOptions {
        registry: a.registry.clone(),
        username: a.username,
        password_stdin: a.password_stdin,
        transport: a.transport.options(),
    })?;
    eprintln!(
        "{:>12} {} (credentials stored in {stored_in})",
        "Logged in",
        remote::registry_host(&a.registry)?
    );
    Ok(())
}

pub fn logout(a: LogoutArgs) -> Result<()> {
    match remote::logout(&a.registry)? {
        Some(kept) => eprintln!("{:>12} {} (removed from {kept})", "Logged out", a.registry),
        None => eprintln!("not logged in to {}", a.registry),
    }
    Ok(())
}
