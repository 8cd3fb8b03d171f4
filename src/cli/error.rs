//! How a command ends when it does not succeed: the exit status and, unless the command has
//! said why already, the sentence `main` prints as `error: ...`. Commands return
//! `Result<(), Error>`; only `cli::main` prints it and turns it into the exit status.

use super::exit;

#[derive(Debug)]
pub struct Error {
    /// The exit status (1 failed or invalid, 2 usage, 3 awaiting input).
    pub code: i32,
    /// What `main` prints after `error: `; `None` when the command has told already.
    pub message: Option<String>,
}

pub type Result<T = ()> = std::result::Result<T, Error>;

impl Error {
    /// Failed (status 1), saying why.
    pub fn failed(message: impl std::fmt::Display) -> Error {
        Error {
            code: exit::FAILED,
            message: Some(message.to_string()),
        }
    }

    /// A usage error (status 2), saying why.
    pub fn usage(message: impl std::fmt::Display) -> Error {
        Error {
            code: exit::USAGE,
            message: Some(message.to_string()),
        }
    }

    /// The exit status alone: the command has said what there was to say.
    pub fn status(code: i32) -> Error {
        Error {
            code,
            message: None,
        }
    }
}

/// A command that still answers with its exit status, as a `Result`.
pub fn from_status(code: i32) -> Result {
    if code == exit::OK {
        Ok(())
    } else {
        Err(Error::status(code))
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Error {
        Error::failed(e)
    }
}

impl From<crate::exec::error::ExecError> for Error {
    fn from(e: crate::exec::error::ExecError) -> Error {
        Error {
            code: e.code(),
            message: Some(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_becomes_a_result() {
        assert!(from_status(exit::OK).is_ok());
        let e = from_status(exit::AWAITING_INPUT).unwrap_err();
        assert_eq!((e.code, e.message), (exit::AWAITING_INPUT, None));
        assert_eq!(Error::usage("x").code, exit::USAGE);
        assert_eq!(Error::failed("x").message.as_deref(), Some("x"));
    }
}
