//! A PMML `Scorecard` (PMML 4.x: SAS, FICO, optbinning through sklearn2pmml) as riskfn's
//! points scorecard: each `Characteristic` over one field becomes a characteristic of the
//! card, its `Attribute`s its bins, their `partialScore`s its points (`initialScore` added
//! to the first characteristic's bins, so every applicant's sum is the card's).
//!
//! - A number's attributes must cut the line into consecutive intervals, as `lessThan` /
//!   `greaterOrEqual` (riskfn's bins are `[a, b)`) or `lessOrEqual` / `greaterThan` (then
//!   `(a, b]`: each cut is the double just above the bound);
//! - a category's attributes are `equal` and `isIn` sets of its levels;
//! - a missing value takes the `isMissing` attribute, or else the catch-all `True` one;
//!   a level the card does not list takes the same bin (PMML's `invalidValueTreatment`
//!   `asMissing`; its default, `returnInvalid`, would refuse the record instead);
//! - the probability is the one the points imply on the pipeline's `[scorecard]` scale
//!   (`sigmoid((offset - points) / factor)`), which must be the scale the card was built
//!   on: the parity gate checks it against the library's own probabilities;
//! - a characteristic's `reasonCode` becomes its feature's reason code; riskfn ranks the
//!   reasons by points below each characteristic's best bin (PMML's `pointsBelow` against
//!   the `max` baseline).
//!
//! Refused by name: other models than `Scorecard`, derived fields (transformations),
//! predicates other than those, attributes that leave a gap or overlap, a characteristic
//! with nothing for a missing value, a level named `missing` (riskfn's missing level).

use quick_xml::events::Event;
use riskfn_core::contract::artifact::Scorecard as Scale;
use riskfn_core::features::preprocess::{Encoding, MISSING_LEVEL};
use riskfn_core::model::{BinStats, CardBins, Characteristic, Model, PointsCard};

use super::{Converted, Format, ImportError, Imported};

const FORMAT: Format = Format("PMML");

/// An XML element: its name (without namespace), attributes, children and text.
#[derive(Debug, Clone, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        (self.attributes.iter())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// How deep elements may nest.
const MAX_DEPTH: usize = 64;

/// The document's root element.
fn parse_xml(text: &str) -> Result<Element, ImportError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = vec![Element::default()];
    let xml = |e: &dyn std::fmt::Display| FORMAT.malformed(format!("not XML ({e})"));
    let open = |e: &quick_xml::events::BytesStart| -> Result<Element, ImportError> {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let attributes = (e.attributes())
            .map(|a| {
                let a = a.map_err(|e| xml(&e))?;
                let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
                Ok((key, a.unescape_value().map_err(|e| xml(&e))?.into_owned()))
            })
            .collect::<Result<_, ImportError>>()?;
        Ok(Element {
            name,
            attributes,
            ..Element::default()
        })
    };
    loop {
        match reader.read_event().map_err(|e| xml(&e))? {
            Event::Start(e) => {
                // A card nests a few levels; a file nesting deeper is no scorecard.
                if stack.len() > MAX_DEPTH {
                    return Err(FORMAT.malformed("elements nest too deep"));
                }
                stack.push(open(&e)?)
            }
            Event::Empty(e) => {
                let el = open(&e)?;
                stack.last_mut().expect("a root").children.push(el);
            }
            Event::End(_) => {
                let el = stack.pop().expect("an open element");
                let parent = stack
                    .last_mut()
                    .ok_or_else(|| FORMAT.malformed("an unbalanced end tag"))?;
                parent.children.push(el);
            }
            Event::Text(t) => {
                let t = t.xml_content().map_err(|e| xml(&e))?;
                stack.last_mut().expect("a root").text.push_str(&t);
            }
            Event::GeneralRef(r) => {
                let s = match r.resolve_char_ref().map_err(|e| xml(&e))? {
                    Some(c) => c.to_string(),
                    None => match r.decode().map_err(|e| xml(&e))?.as_ref() {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => {
                            return Err(FORMAT.malformed(format!("an unknown entity &{other};")));
                        }
                    },
                };
                stack.last_mut().expect("a root").text.push_str(&s);
            }
            Event::CData(t) => {
                let t = String::from_utf8_lossy(&t).into_owned();
                stack.last_mut().expect("a root").text.push_str(&t);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    match (stack.len(), stack.pop()) {
        (1, Some(mut doc)) if doc.children.len() == 1 => Ok(doc.children.remove(0)),
        _ => Err(FORMAT.malformed("the file ends inside an element (truncated?)")),
    }
}

/// The strings of a PMML `Array` (space-separated, double quotes around those with spaces).
fn array_strings(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => s.extend(chars.next()),
                    '"' => break,
                    c => s.push(c),
                }
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek().filter(|c| !c.is_whitespace()) {
                s.push(c);
                chars.next();
            }
            out.push(s);
        }
    }
    out
}

/// What selects an attribute's applicants.
#[derive(Debug, Clone, PartialEq)]
enum Test {
    /// `low <= x < high` (or `low < x <= high` when `right_closed`); either side open.
    Range {
        low: Option<f64>,
        high: Option<f64>,
        right_closed: bool,
    },
    /// The level is one of these.
    Levels(Vec<String>),
    Missing,
    /// The catch-all.
    True,
}

#[derive(Debug, Clone, PartialEq)]
struct Attribute {
    test: Test,
    points: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct PmmlCharacteristic {
    field: String,
    reason_code: Option<String>,
    attributes: Vec<Attribute>,
}

/// A parsed PMML scorecard.
#[derive(Debug, Clone)]
pub struct Pmml {
    initial_score: f64,
    characteristics: Vec<PmmlCharacteristic>,
    feature_names: Vec<String>,
    categories: Vec<Option<Vec<String>>>,
    /// Per feature: its characteristic.
    characteristic_of: Vec<usize>,
    scale: Scale,
}

fn number(el: &Element, key: &str) -> Result<f64, ImportError> {
    let v = el
        .attr(key)
        .ok_or_else(|| FORMAT.malformed(format!("{} without {key}", el.name)))?;
    v.trim()
        .parse::<f64>()
        .map_err(|_| FORMAT.malformed(format!("{}'s {key} {v:?} is not a number", el.name)))
}

/// One predicate's test on its field.
fn test(p: &Element, categorical: bool) -> Result<Test, ImportError> {
    let bound = |op: &str, v: f64| match op {
        "lessThan" => Ok((None, Some(v), false)),
        "lessOrEqual" => Ok((None, Some(v), true)),
        "greaterOrEqual" => Ok((Some(v), None, false)),
        "greaterThan" => Ok((Some(v), None, true)),
        other => Err(FORMAT.unsupported(
            "predicate",
            format!("SimplePredicate operator {other} on a number"),
        )),
    };
    match p.name.as_str() {
        "True" => Ok(Test::True),
        "SimplePredicate" => {
            let op = p.attr("operator").unwrap_or("");
            match (op, categorical) {
                ("isMissing", _) => Ok(Test::Missing),
                ("equal", true) => Ok(Test::Levels(vec![p.attr("value").unwrap_or("").to_owned()])),
                (op, false) => {
                    let (low, high, right_closed) = bound(op, number(p, "value")?)?;
                    Ok(Test::Range {
                        low,
                        high,
                        right_closed,
                    })
                }
                (op, true) => Err(FORMAT.unsupported(
                    "predicate",
                    format!("SimplePredicate operator {op} on a category"),
                )),
            }
        }
        "SimpleSetPredicate" if categorical && p.attr("booleanOperator") == Some("isIn") => {
            let array = p
                .child("Array")
                .ok_or_else(|| FORMAT.malformed("SimpleSetPredicate without its Array"))?;
            Ok(Test::Levels(array_strings(&array.text)))
        }
        "CompoundPredicate" if !categorical && p.attr("booleanOperator") == Some("and") => {
            // One bound from each part, each side once.
            let (mut low, mut high, mut closed) = (None, None, None);
            for part in p.children.iter().filter(|c| c.name.ends_with("Predicate")) {
                let part = test(part, false)?;
                let (side, v, right_closed) = match part {
                    Test::Range {
                        low: Some(l),
                        high: None,
                        right_closed,
                    } if low.is_none() => (&mut low, l, right_closed),
                    Test::Range {
                        low: None,
                        high: Some(h),
                        right_closed,
                    } if high.is_none() => (&mut high, h, right_closed),
                    other => {
                        return Err(FORMAT.unsupported(
                            "predicate",
                            format!("a CompoundPredicate part {other:?}"),
                        ));
                    }
                };
                *side = Some(v);
                // `> a` pairs with `<= b`, `>= a` with `< b`.
                if closed
                    .replace(right_closed)
                    .is_some_and(|c| c != right_closed)
                {
                    return Err(FORMAT
                        .unsupported("predicate", "an interval closed on both sides or neither"));
                }
            }
            Ok(Test::Range {
                low,
                high,
                right_closed: closed.unwrap_or(false),
            })
        }
        other => Err(FORMAT.unsupported(
            "predicate",
            format!(
                "{other}{}",
                p.attr("booleanOperator")
                    .map_or(String::new(), |o| format!(" {o}"))
            ),
        )),
    }
}

impl Pmml {
    pub fn parse(text: &str) -> Result<Pmml, ImportError> {
        let root = parse_xml(text)?;
        if root.name != "PMML" {
            return Err(FORMAT.malformed(format!("the root element is {}, not PMML", root.name)));
        }
        let dictionary = root
            .child("DataDictionary")
            .ok_or_else(|| FORMAT.malformed("no DataDictionary"))?;
        let categorical = |field: &str| {
            (dictionary.all("DataField"))
                .find(|d| d.attr("name") == Some(field))
                .map(|d| {
                    d.attr("optype") == Some("categorical") || d.attr("dataType") == Some("string")
                })
        };
        if let Some(t) = root
            .child("TransformationDictionary")
            .filter(|t| !t.children.is_empty())
        {
            return Err(FORMAT.unsupported(
                "derived fields",
                format!("a TransformationDictionary of {} fields", t.children.len()),
            ));
        }
        let models: Vec<&Element> = (root.children.iter())
            .filter(|c| {
                !matches!(
                    c.name.as_str(),
                    "Header"
                        | "DataDictionary"
                        | "TransformationDictionary"
                        | "MiningBuildTask"
                        | "Extension"
                )
            })
            .collect();
        let card = match models.as_slice() {
            [card] if card.name == "Scorecard" => *card,
            [other] => {
                return Err(FORMAT.unsupported(
                    "model",
                    format!("{} (riskfn imports a PMML Scorecard)", other.name),
                ));
            }
            _ => {
                return Err(
                    FORMAT.unsupported("model", format!("{} models in one file", models.len()))
                );
            }
        };
        if card
            .child("LocalTransformations")
            .is_some_and(|t| !t.children.is_empty())
        {
            return Err(FORMAT.unsupported("derived fields", "LocalTransformations"));
        }
        let initial_score = match card.attr("initialScore") {
            Some(_) => number(card, "initialScore")?,
            None => 0.0,
        };
        let list = card
            .child("Characteristics")
            .ok_or_else(|| FORMAT.malformed("a Scorecard without Characteristics"))?;
        let mut characteristics = Vec::new();
        for c in list.all("Characteristic") {
            let name = c.attr("name").unwrap_or("?");
            let mut field: Option<String> = None;
            let mut attributes = Vec::new();
            for a in c.all("Attribute") {
                let p = (a.children.iter())
                    .find(|p| p.name.ends_with("Predicate") || p.name == "True")
                    .ok_or_else(|| {
                        FORMAT.malformed(format!("an Attribute of {name} without a predicate"))
                    })?;
                let f = p.attr("field").map(str::to_owned).or_else(|| {
                    p.children
                        .iter()
                        .find_map(|q| q.attr("field").map(str::to_owned))
                });
                if let (Some(f), Some(known)) = (&f, &field)
                    && f != known
                {
                    return Err(FORMAT
                        .unsupported("characteristic", format!("{name} reads {known} and {f}")));
                }
                field = field.or(f);
                let kind = field.as_deref().and_then(categorical);
                attributes.push(Attribute {
                    test: test(p, kind.unwrap_or(false))?,
                    points: number(a, "partialScore")?,
                });
            }
            let field = field.ok_or_else(|| FORMAT.malformed(format!("{name} reads no field")))?;
            if categorical(&field).is_none() {
                return Err(FORMAT.malformed(format!(
                    "{name} reads {field}, which the DataDictionary lacks"
                )));
            }
            // Reasons rank by points below the characteristic's best bin: a card that ranks
            // them against another baseline would give other reasons.
            if card.attr("useReasonCodes") != Some("false")
                && let Some(_) = c.attr("baselineScore")
            {
                let baseline = number(c, "baselineScore")?;
                let best = attributes
                    .iter()
                    .map(|a| a.points)
                    .fold(f64::NEG_INFINITY, f64::max);
                if (baseline - best).abs() > 1e-9 * best.abs().max(1.0) {
                    return Err(FORMAT.unsupported(
                        "reason code baseline",
                        format!(
                            "{name}'s baselineScore {baseline} is not its best points {best} (riskfn ranks reasons by points below the best bin)"
                        ),
                    ));
                }
            }
            if card
                .attr("reasonCodeAlgorithm")
                .is_some_and(|a| a != "pointsBelow")
            {
                return Err(FORMAT.unsupported(
                    "reason code algorithm",
                    card.attr("reasonCodeAlgorithm").unwrap_or("").to_owned(),
                ));
            }
            characteristics.push(PmmlCharacteristic {
                field,
                reason_code: c.attr("reasonCode").map(str::to_owned),
                attributes,
            });
        }
        let feature_names: Vec<String> = characteristics.iter().map(|c| c.field.clone()).collect();
        for (k, f) in feature_names.iter().enumerate() {
            if feature_names[..k].contains(f) {
                return Err(
                    FORMAT.unsupported("characteristic", format!("{f} has two characteristics"))
                );
            }
        }
        let categories = (characteristics.iter())
            .map(|c| match categorical(&c.field) {
                Some(true) => {
                    let mut levels: Vec<String> = Vec::new();
                    for a in &c.attributes {
                        if let Test::Levels(l) = &a.test {
                            levels.extend(
                                l.iter()
                                    .filter(|l| !levels.contains(l))
                                    .cloned()
                                    .collect::<Vec<_>>(),
                            );
                        }
                    }
                    if levels.iter().any(|l| l == MISSING_LEVEL) {
                        return Err(FORMAT.unsupported(
                            "level",
                            format!(
                                "{}'s level {MISSING_LEVEL:?} (riskfn's missing level)",
                                c.field
                            ),
                        ));
                    }
                    Ok(Some(levels))
                }
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>, ImportError>>()?;
        let m = Pmml {
            initial_score,
            characteristic_of: (0..characteristics.len()).collect(),
            characteristics,
            feature_names,
            categories,
            scale: Scale::default(),
        };
        m.card()?;
        Ok(m)
    }

    /// The card's points by PMML's own rule: per characteristic, the first attribute whose
    /// predicate holds (a missing or unlisted value: `isMissing`, else `True`).
    fn points_of(&self, codes: &[f64]) -> f64 {
        let mut total = self.initial_score;
        for (f, &v) in codes.iter().enumerate() {
            let c = &self.characteristics[self.characteristic_of[f]];
            let level = match &self.categories[f] {
                Some(levels) if v >= 0.0 => levels.get(v as usize),
                _ => None,
            };
            let missing = v.is_nan() || (self.categories[f].is_some() && level.is_none());
            let hit = (c.attributes.iter()).find(|a| match &a.test {
                Test::Missing => missing,
                Test::True => true,
                _ if missing => false,
                Test::Levels(l) => level.is_some_and(|level| l.contains(level)),
                Test::Range {
                    low,
                    high,
                    right_closed,
                } => {
                    let above = low.is_none_or(|l| if *right_closed { v > l } else { v >= l });
                    let below = high.is_none_or(|h| if *right_closed { v <= h } else { v < h });
                    above && below
                }
            });
            total += hit.map_or(f64::NAN, |a| a.points);
        }
        total
    }

    /// The card as riskfn's, over one input per number (NaN when missing) and one per
    /// listed level.
    fn card(&self) -> Result<PointsCard, ImportError> {
        let mut characteristics = Vec::new();
        let mut input = 0u32;
        for (f, c) in self.characteristics.iter().enumerate() {
            let name = &c.field;
            let rest = (c.attributes.iter())
                .position(|a| matches!(a.test, Test::Missing | Test::True))
                .map(|k| {
                    (
                        k,
                        c.attributes
                            .iter()
                            .position(|a| a.test == Test::Missing)
                            .unwrap_or(k),
                    )
                });
            let Some((_, missing_at)) = rest else {
                return Err(FORMAT.unsupported(
                    "characteristic",
                    format!("{name} has no isMissing or True attribute for a missing value"),
                ));
            };
            let mut points: Vec<f64> = Vec::new();
            let mut labels: Vec<String> = Vec::new();
            let bins = match &self.categories[f] {
                Some(levels) => {
                    // Each attribute a bin; a level takes the first attribute listing it.
                    let mut level_bins = vec![u32::MAX; levels.len()];
                    for (k, a) in c.attributes.iter().enumerate() {
                        if let Test::Levels(l) = &a.test {
                            for level in l {
                                let at = levels.iter().position(|x| x == level).expect("collected");
                                if level_bins[at] == u32::MAX {
                                    level_bins[at] = k as u32;
                                }
                            }
                        }
                        points.push(a.points);
                        labels.push(label(&a.test));
                    }
                    let catch_all = c.attributes.iter().position(|a| a.test == Test::True);
                    for b in &mut level_bins {
                        if *b == u32::MAX {
                            *b = catch_all.unwrap_or(missing_at) as u32;
                        }
                    }
                    let start = input;
                    input += levels.len() as u32;
                    CardBins::Categorical {
                        start,
                        level_bins,
                        unseen: missing_at as u32,
                    }
                }
                None => {
                    let mut ranges: Vec<(Option<f64>, Option<f64>, bool, f64)> =
                        (c.attributes.iter())
                            .filter_map(|a| match a.test {
                                Test::Range {
                                    low,
                                    high,
                                    right_closed,
                                } => Some((low, high, right_closed, a.points)),
                                _ => None,
                            })
                            .collect();
                    ranges.sort_by(|a, b| {
                        a.0.unwrap_or(f64::NEG_INFINITY)
                            .total_cmp(&b.0.unwrap_or(f64::NEG_INFINITY))
                    });
                    let gap = || {
                        FORMAT.unsupported(
                            "characteristic",
                            format!("{name}'s intervals leave a gap or overlap"),
                        )
                    };
                    let (first, last) = (
                        ranges.first().ok_or_else(gap)?,
                        ranges.last().ok_or_else(gap)?,
                    );
                    if first.0.is_some() || last.1.is_some() {
                        return Err(gap());
                    }
                    let mut cuts = Vec::new();
                    for w in ranges.windows(2) {
                        let (a, b) = (&w[0], &w[1]);
                        if a.1 != b.0 || a.2 != b.2 || a.1.is_none() {
                            return Err(gap());
                        }
                        let cut = a.1.expect("checked");
                        // `x <= b` is riskfn's `x < next_up(b)`.
                        cuts.push(if a.2 { cut.next_up() } else { cut });
                    }
                    for r in &ranges {
                        points.push(r.3);
                        labels.push(label(&Test::Range {
                            low: r.0,
                            high: r.1,
                            right_closed: r.2,
                        }));
                    }
                    points.push(c.attributes[missing_at].points);
                    labels.push("missing".into());
                    let at = input;
                    input += 1;
                    CardBins::Numeric { input: at, cuts }
                }
            };
            if f == 0 {
                for p in &mut points {
                    *p += self.initial_score;
                }
            }
            characteristics.push(Characteristic {
                feature: f,
                bins,
                stats: (labels.into_iter())
                    .map(|label| BinStats {
                        label,
                        rows: 0,
                        adverse: 0,
                        woe: 0.0,
                        iv: 0.0,
                    })
                    .collect(),
                points,
            });
        }
        Ok(PointsCard {
            offset: self.scale.offset(),
            factor: self.scale.factor(),
            characteristics,
        })
    }
}

/// A bin's label as the report shows it.
fn label(t: &Test) -> String {
    match t {
        Test::Range {
            low,
            high,
            right_closed,
        } => {
            let (open, close) = if *right_closed {
                ("(", "]")
            } else {
                ("[", ")")
            };
            let show = |v: &Option<f64>, inf: &str| v.map_or(inf.to_owned(), |v| v.to_string());
            format!("{open}{}, {}{close}", show(low, "-inf"), show(high, "inf"))
        }
        Test::Levels(l) => l.join(", "),
        Test::Missing => "missing".into(),
        Test::True => "other".into(),
    }
}

impl Imported for Pmml {
    fn library(&self) -> &'static str {
        FORMAT.name()
    }

    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    fn categories(&self) -> &[Option<Vec<String>>] {
        &self.categories
    }

    fn set_scale(&mut self, scale: Scale) {
        self.scale = scale;
    }

    fn convert(&self) -> Result<Converted, ImportError> {
        let features = (self.feature_names.iter().enumerate())
            .map(|(f, name)| {
                let encoding = match &self.categories[f] {
                    Some(levels) => Encoding::OneHot {
                        levels: levels.clone(),
                        frequencies: vec![0.0; levels.len()],
                    },
                    None => Encoding::as_is(),
                };
                let mut feature = Converted::feature(f, name, encoding);
                if let Some(code) = &self.characteristics[self.characteristic_of[f]].reason_code {
                    feature.reason.code = code.clone();
                }
                feature
            })
            .collect();
        Ok(Converted {
            features,
            model: Model::Scorecard(self.card()?),
            own_reasons: self.characteristics.iter().any(|c| c.reason_code.is_some()),
        })
    }

    /// By PMML's rules (the first attribute whose predicate holds), on the scale.
    fn probability(&self, codes: &[f64]) -> f64 {
        let points = self.points_of(codes);
        riskfn_core::model::sigmoid((self.scale.offset() - points) / self.scale.factor())
    }

    /// Each number's interval bounds.
    fn splits(&self) -> Vec<(usize, f64)> {
        (self.characteristics.iter().enumerate())
            .flat_map(|(f, c)| {
                c.attributes.iter().flat_map(move |a| match a.test {
                    Test::Range { low, high, .. } => {
                        [low, high].into_iter().flatten().map(|v| (f, v)).collect()
                    }
                    _ => Vec::new(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::testing::{base_rows, fixture, reference};
    use crate::import::{edge_rows, parity};

    fn read(name: &str) -> Pmml {
        let mut m = Pmml::parse(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
        m.set_scale(Scale::default());
        m
    }

    /// optbinning 1.0.0's scorecards exported by sklearn2pmml (german_credit's with and
    /// without reason codes, islr_default's, credit_data's):
    /// on every reference row (missing numbers and categories among them) the converted
    /// card's points are JPMML-Evaluator's (the PMML's own evaluator) and optbinning's score
    /// to 1e-9, its probability optbinning's predict_proba to 1e-12 (riskfn's default scale
    /// is the card's); the gate's rows on every interval bound and either side of it, and
    /// each level, a missing and an unseen one, agree with PMML's first-attribute rule.
    #[tokio::test]
    async fn an_optbinning_scorecard_scores_as_jpmml_and_optbinning() {
        for (name, rows) in [
            ("scorecard_german.pmml", "scorecard_german_reference.csv"),
            (
                "scorecard_german_reasons.pmml",
                "scorecard_german_reference.csv",
            ),
            ("scorecard_islr.pmml", "scorecard_islr_reference.csv"),
            ("scorecard_credit.pmml", "scorecard_credit_reference.csv"),
        ] {
            let m = read(name);
            let converted = m.convert().unwrap();
            let Model::Scorecard(card) = &converted.model else {
                panic!("{name}")
            };
            let r = reference(&m, rows).await;
            let (jpmml, optbinning, p) = (
                r.numbers("jpmml_score"),
                r.numbers("optbinning_score"),
                r.numbers("probability"),
            );
            assert!(r.codes.iter().flatten().any(|c| c.is_nan()));
            for (k, codes) in r.codes.iter().enumerate() {
                let x = converted.encode(&m, codes);
                let points = card.points(&x);
                assert!(
                    (points - jpmml[k]).abs() < 1e-9,
                    "{name} row {k}: {points} against {}",
                    jpmml[k]
                );
                assert!((points - optbinning[k]).abs() < 1e-9, "{name} row {k}");
                assert!(
                    (converted.model.probability(&x) - p[k]).abs() < 1e-12,
                    "{name} row {k}"
                );
                assert!(
                    (m.probability(codes) - p[k]).abs() < 1e-12,
                    "{name} row {k}: by PMML's rules"
                );
            }
            let rows = edge_rows(&m, &base_rows(&m));
            assert!(rows.len() > 500, "{name}: {} rows", rows.len());
            let found = parity(&m, &converted, &rows);
            assert!(found.max_difference < 1e-12, "{name}: {found:?}");
            // Reading `x < b` as `x <= b` is caught on the bounds.
            let mut closed = converted.clone();
            let Model::Scorecard(c) = &mut closed.model else {
                unreachable!()
            };
            for ch in &mut c.characteristics {
                if let CardBins::Numeric { cuts, .. } = &mut ch.bins {
                    cuts.iter_mut().for_each(|b| *b = b.next_up());
                }
            }
            assert!(parity(&m, &closed, &rows).max_difference > 1e-9, "{name}");
        }
    }

    /// The reason codes a card names become its features' codes; ranked as riskfn ranks a
    /// card's reasons (points below each characteristic's best, in log-odds, strongest
    /// first), they are JPMML-Evaluator's `pointsBelow` reason codes on every reference row.
    #[tokio::test]
    async fn its_reason_codes_rank_as_jpmml_ranks_them() {
        let m = read("scorecard_german_reasons.pmml");
        let converted = m.convert().unwrap();
        assert!(converted.own_reasons);
        let codes: Vec<&str> = converted
            .features
            .iter()
            .map(|f| f.reason.code.as_str())
            .collect();
        assert_eq!(codes[0], "RC_CHECKING_ACCOUNT");
        let Model::Scorecard(card) = &converted.model else {
            unreachable!()
        };
        let r = reference(&m, "scorecard_german_reference.csv").await;
        let want: Vec<Vec<String>> = (1..=3).map(|k| r.strings(&format!("reason{k}"))).collect();
        for (row, c) in r.codes.iter().enumerate() {
            let x = converted.encode(&m, c);
            let mut below: Vec<(usize, f64)> = (card.characteristics.iter())
                .map(|ch| (ch.feature, ch.max_points() - ch.points[ch.bin(&x)]))
                .filter(|(_, d)| *d > 0.0)
                .collect();
            below.sort_by(|a, b| b.1.total_cmp(&a.1));
            for (k, (f, _)) in below.iter().take(3).enumerate() {
                assert_eq!(codes[*f], want[k][row], "row {row} reason {}", k + 1);
            }
        }
        assert!(!m.probability(&r.codes[0]).is_nan());
    }

    /// What riskfn does not take is refused by name; a truncated file is malformed.
    #[test]
    fn unsupported_and_truncated_cards_are_refused_by_name() {
        let text = std::fs::read_to_string(fixture("scorecard_german_reasons.pmml")).unwrap();
        let err = |t: &str| Pmml::parse(t).unwrap_err().to_string();
        assert!(
            err(&text[..text.len() / 2]).contains("truncated"),
            "{}",
            err(&text[..text.len() / 2])
        );
        assert!(err("not xml <").contains("not a PMML"));
        let e = err(&text.replacen("<Scorecard ", "<TreeModel ", 1).replacen(
            "</Scorecard>",
            "</TreeModel>",
            1,
        ));
        assert!(e.contains("TreeModel"), "{e}");
        let e = err(&text.replacen("operator=\"lessThan\"", "operator=\"notEqual\"", 1));
        assert!(e.contains("notEqual"), "{e}");
        let e = err(&text.replacen(
            "reasonCodeAlgorithm=\"pointsBelow\"",
            "reasonCodeAlgorithm=\"pointsAbove\"",
            1,
        ));
        assert!(e.contains("pointsAbove"), "{e}");
        // A baseline other than the best bin's points.
        let at = text.find("baselineScore=\"").unwrap() + "baselineScore=\"".len();
        let e = err(&format!("{}1{}", &text[..at], &text[at..]));
        assert!(e.contains("baselineScore"), "{e}");
        let deep = "<PMML>".to_owned() + &"<a>".repeat(100);
        assert!(err(&deep).contains("nest too deep"));
        // A gap between a number's intervals.
        let e = err(&text.replacen("value=\"8.5\"", "value=\"9.5\"", 1));
        assert!(e.contains("gap"), "{e}");
    }
}
