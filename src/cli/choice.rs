//! The command line's side of [`Choice`]: a clap value parser that accepts a choice's names,
//! lists them with their help in `--help`, and rejects anything else with clap's own message.

use std::ffi::OsStr;
use std::marker::PhantomData;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use crate::choice::Choice;

/// `#[arg(value_parser = choice::<T>())]`.
pub fn choice<T: Choice>() -> ChoiceParser<T> {
    ChoiceParser(PhantomData)
}

#[derive(Clone)]
pub struct ChoiceParser<T>(PhantomData<T>);

fn possible<T: Choice>() -> impl Iterator<Item = PossibleValue> {
    T::ALL.iter().map(|c| {
        let v = PossibleValue::new(c.name());
        match c.help() {
            "" => v,
            help => v.help(help),
        }
    })
}

impl<T: Choice> TypedValueParser for ChoiceParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let name = PossibleValuesParser::new(possible::<T>()).parse_ref(cmd, arg, value)?;
        // The parser above accepted one of the names, so this finds it.
        T::named(&name).ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidValue))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(possible::<T>()))
    }
}
