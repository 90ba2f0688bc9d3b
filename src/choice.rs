//! A closed set of named values a user picks one of (a report format, a backend, a mark).
//! The library says what the names are and what each means; the command line turns that into
//! its flags' accepted values and `--help` text, so no command-line parser leaks into the
//! library's types.

/// A value picked by name from a closed set.
pub trait Choice: Copy + Send + Sync + 'static {
    /// Every value, in the order `--help` lists them.
    const ALL: &'static [Self];
    /// The name a user writes (kebab-case, as in files and JSON).
    fn name(self) -> &'static str;
    /// One line on what picking it means; empty when the name says it all.
    fn help(self) -> &'static str {
        ""
    }
    /// The value named `name`, if any.
    fn named(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Colour {
        Red,
        DarkBlue,
    }

    impl Choice for Colour {
        const ALL: &'static [Self] = &[Colour::Red, Colour::DarkBlue];
        fn name(self) -> &'static str {
            match self {
                Colour::Red => "red",
                Colour::DarkBlue => "dark-blue",
            }
        }
    }

    #[test]
    fn a_choice_is_found_by_its_name_and_only_by_its_name() {
        assert_eq!(Colour::named("dark-blue"), Some(Colour::DarkBlue));
        assert_eq!(Colour::named("red"), Some(Colour::Red));
        assert_eq!(Colour::named("DarkBlue"), None);
        assert_eq!(Colour::named(""), None);
    }
}
