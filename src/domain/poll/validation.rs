//! Checking a poll definition: what each kind takes, with a message saying exactly what is
//! wrong (a 400 at intake, a refused agenda file at start).

use super::{
    Kind, MAX_DURATION_SECS, MAX_LABEL_CHARS, MAX_OPTION_CHARS, MAX_OPTIONS, MAX_QUESTION_CHARS,
    MAX_WORDS, PollDef, Visibility, valid_id,
};

impl PollDef {
    /// Validates and normalises a definition (trims text, fills kind-specific defaults).
    /// The error says exactly what is wrong, for a 400 message.
    pub fn validate(mut self) -> Result<PollDef, String> {
        if let Some(id) = &self.id
            && !valid_id(id)
        {
            return Err(format!(
                "id {id:?} must be 1-40 characters of a-z, 0-9 and '-'"
            ));
        }
        crate::domain::text::clean_texts(&mut self.question, &mut self.options);
        self.question = self.question.trim().to_string();
        let q = self.question.chars().count();
        if !(1..=MAX_QUESTION_CHARS).contains(&q) {
            return Err(format!(
                "question must be 1-{MAX_QUESTION_CHARS} characters (got {q})"
            ));
        }
        match self.kind {
            Kind::Single | Kind::Multiple | Kind::Quiz => {
                self.options = self.options.iter().map(|o| o.trim().to_string()).collect();
                let n = self.options.len();
                if !(2..=MAX_OPTIONS).contains(&n) {
                    return Err(format!(
                        "a {:?} poll needs 2-{MAX_OPTIONS} options (got {n})",
                        self.kind
                    )
                    .to_lowercase());
                }
                for (i, o) in self.options.iter().enumerate() {
                    let c = o.chars().count();
                    if !(1..=MAX_OPTION_CHARS).contains(&c) {
                        return Err(format!(
                            "option {i} must be 1-{MAX_OPTION_CHARS} characters (got {c})"
                        ));
                    }
                }
                if self.scale.is_some() {
                    return Err("scale applies only to rating polls".into());
                }
                if self.labels.is_some() {
                    return Err("labels apply only to rating polls".into());
                }
                if self.kind == Kind::Quiz {
                    self.validate_quiz()?;
                } else if self.correct.is_some() || self.points.is_some() {
                    return Err("correct and points apply only to quiz polls".into());
                }
                if matches!(self.kind, Kind::Single | Kind::Quiz) {
                    if self.max_choices.is_some() {
                        return Err("max_choices applies only to multiple-choice polls".into());
                    }
                } else {
                    let m = self.max_choices.unwrap_or(n as u16);
                    if m < 1 || m as usize > n {
                        return Err(format!("max_choices must be 1-{n} (got {m})"));
                    }
                    self.max_choices = Some(m);
                }
            }
            Kind::Rating => {
                if self.correct.is_some() || self.points.is_some() {
                    return Err("correct and points apply only to quiz polls".into());
                }
                if !self.options.is_empty() {
                    return Err("a rating poll takes no options (use scale)".into());
                }
                if self.max_choices.is_some() {
                    return Err("max_choices applies only to multiple-choice polls".into());
                }
                let s = self.scale.unwrap_or(5);
                if !(2..=10).contains(&s) {
                    return Err(format!("scale must be 2-10 (got {s})"));
                }
                self.scale = Some(s);
                if let Some(labels) = &mut self.labels {
                    for l in labels.iter_mut() {
                        *l = crate::domain::text::strip_invisible(l).trim().to_string();
                    }
                    if labels.iter().all(String::is_empty) {
                        self.labels = None;
                    } else if labels.len() != 2
                        || labels.iter().any(|l| l.chars().count() > MAX_LABEL_CHARS)
                    {
                        return Err(format!(
                            "labels must be two texts of at most {MAX_LABEL_CHARS} characters (the low and the high end)"
                        ));
                    }
                }
            }
            Kind::Wordcloud => {
                if !self.options.is_empty() {
                    return Err("a wordcloud poll takes no options".into());
                }
                let m = self.max_words.unwrap_or(1);
                if !(1..=MAX_WORDS).contains(&m) {
                    return Err(format!("max_words must be 1-{MAX_WORDS} (got {m})"));
                }
                self.max_words = (m > 1).then_some(m);
                if self.max_choices.is_some()
                    || self.scale.is_some()
                    || self.labels.is_some()
                    || self.correct.is_some()
                    || self.points.is_some()
                {
                    return Err(
                        "max_choices, scale, labels, correct and points do not apply to wordcloud polls"
                            .into(),
                    );
                }
            }
        }
        if self.kind != Kind::Wordcloud && (self.moderation.is_some() || self.max_words.is_some()) {
            return Err("moderation and max_words apply only to wordcloud polls".into());
        }
        if let Some(d) = self.duration_secs
            && !(1..=MAX_DURATION_SECS).contains(&d)
        {
            return Err(format!(
                "duration_secs must be 1-{MAX_DURATION_SECS} (got {d})"
            ));
        }
        Ok(self)
    }

    /// A quiz: right answers among the options, a timer (the score needs it), points; results
    /// are shown after the question closes, whatever was asked.
    fn validate_quiz(&mut self) -> Result<(), String> {
        let n = self.options.len();
        let mut correct = self.correct.take().unwrap_or_default();
        correct.sort_unstable();
        correct.dedup();
        if correct.is_empty() {
            return Err("a quiz needs \"correct\": the indexes of the right options".into());
        }
        if let Some(c) = correct.iter().find(|c| **c as usize >= n) {
            return Err(format!("correct option {c} is out of range 0-{}", n - 1));
        }
        if correct.len() == n {
            return Err("a quiz needs at least one wrong option".into());
        }
        self.correct = Some(correct);
        if self.duration_secs.is_none() {
            return Err("a quiz needs duration_secs (the time to answer)".into());
        }
        let points = self.points.unwrap_or(crate::domain::quiz::DEFAULT_POINTS);
        if !(1..=crate::domain::quiz::MAX_POINTS).contains(&points) {
            return Err(format!(
                "points must be 1-{} (got {points})",
                crate::domain::quiz::MAX_POINTS
            ));
        }
        self.points = Some(points);
        if !matches!(self.visibility, Visibility::Always | Visibility::AfterClose) {
            return Err(
                "a quiz shows its results when the question closes (visibility after_close)".into(),
            );
        }
        self.visibility = Visibility::AfterClose;
        Ok(())
    }

    /// Number of tally buckets: options, or rating values 1..=scale.
    pub fn buckets(&self) -> usize {
        match self.kind {
            Kind::Single | Kind::Multiple | Kind::Quiz => self.options.len(),
            Kind::Rating => self.scale.unwrap_or(5) as usize,
            Kind::Wordcloud => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: Kind) -> PollDef {
        PollDef {
            question: " Q? ".into(),
            kind,
            options: vec!["a".into(), "b".into(), "c".into()],
            ..PollDef::for_test()
        }
    }

    #[test]
    fn validation_trims_and_fills_defaults() {
        let d = def(Kind::Multiple).validate().unwrap();
        assert_eq!(d.question, "Q?");
        assert_eq!(d.max_choices, Some(3));
        let mut r = def(Kind::Rating);
        r.options.clear();
        assert_eq!(r.validate().unwrap().scale, Some(5));
    }

    #[test]
    fn validation_rejects_bad_definitions_with_a_reason() {
        let mut d = def(Kind::Single);
        d.options.truncate(1);
        assert!(d.validate().unwrap_err().contains("2-20 options"));
        let mut d = def(Kind::Single);
        d.id = Some("Bad Id".into());
        assert!(d.validate().unwrap_err().contains("id"));
        let mut d = def(Kind::Rating);
        d.options.clear();
        d.scale = Some(11);
        assert!(d.validate().unwrap_err().contains("scale"));
        let mut d = def(Kind::Multiple);
        d.max_choices = Some(4);
        assert!(d.validate().unwrap_err().contains("max_choices"));
        let mut d = def(Kind::Single);
        d.question = "   ".into();
        assert!(d.validate().unwrap_err().contains("question"));
        let mut d = def(Kind::Single);
        d.options[1] = "x".repeat(201);
        assert!(d.validate().unwrap_err().contains("option 1"));
    }

    #[test]
    fn rating_labels_are_two_short_texts() {
        let mut r = def(Kind::Rating);
        r.options.clear();
        r.labels = Some(vec![" poor\u{202e} ".into(), "excellent".into()]);
        assert_eq!(r.clone().validate().unwrap().labels.unwrap()[0], "poor");
        r.labels = Some(vec!["only one".into()]);
        assert!(r.clone().validate().unwrap_err().contains("labels"));
        let mut s = def(Kind::Single);
        s.labels = Some(vec!["a".into(), "b".into()]);
        assert!(s.validate().unwrap_err().contains("labels"));
    }
}
