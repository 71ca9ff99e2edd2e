//! Who a case is about, as kycdesk compares cases across queues: the same person trying
//! twice, or at two providers. Keys are normalised so that the way a provider writes a
//! name, a date or a document number does not hide a match; the store keeps them keyed
//! (HMAC), never in clear.

use super::{Case, CaseRef, Lane, SafeText, Verdict};
use chrono::{DateTime, Utc};

/// What two cases have in common.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKind {
    NameAndBirth,
    Document,
}

impl IdentityKind {
    pub const ALL: [IdentityKind; 2] = [IdentityKind::NameAndBirth, IdentityKind::Document];

    /// As the store records it.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::NameAndBirth => "name_birth",
            IdentityKind::Document => "document",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// As the case view says it.
    pub fn label(self) -> &'static str {
        match self {
            IdentityKind::NameAndBirth => "same name and date of birth",
            IdentityKind::Document => "same document number",
        }
    }
}

/// One normalised fact about the applicant that another case may share. Personal data:
/// it is only ever stored as a keyed digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKey {
    /// The name's words, folded and sorted, then `|` and the date of birth as `YYYYMMDD`.
    NameAndBirth(String),
    /// The document number, uppercase alphanumerics, after its issuing country and `|`
    /// when the provider gave one.
    Document(String),
}

impl IdentityKey {
    pub fn kind(&self) -> IdentityKind {
        match self {
            IdentityKey::NameAndBirth(_) => IdentityKind::NameAndBirth,
            IdentityKey::Document(_) => IdentityKind::Document,
        }
    }

    pub fn value(&self) -> &str {
        match self {
            IdentityKey::NameAndBirth(v) | IdentityKey::Document(v) => v,
        }
    }
}

/// Shorter document numbers are placeholders ("N/A", "0", "-"), not numbers: they would
/// tie unrelated applicants together.
const MIN_DOCUMENT_CHARS: usize = 5;

/// The keys a case can be matched on, each once. A part missing means no key: a name
/// without a date of birth is too weak to call two people the same.
pub fn identity_keys(case: &Case) -> Vec<IdentityKey> {
    let mut keys = vec![];
    let name = normalised_name(case.applicant.name.as_str());
    let birth = case.applicant.date_of_birth.as_ref().and_then(|d| normalised_date(&d.to_string()));
    if let (false, Some(birth)) = (name.is_empty(), birth) {
        keys.push(IdentityKey::NameAndBirth(format!("{name}|{birth}")));
    }
    for doc in &case.documents {
        let Some(number) = doc.number.as_ref().map(|n| normalised_code(n.as_str())) else { continue };
        if number.chars().count() < MIN_DOCUMENT_CHARS {
            continue;
        }
        let country = doc.country.as_ref().map(|c| normalised_country(c.as_str())).filter(|c| !c.is_empty());
        keys.push(IdentityKey::Document(match country {
            Some(country) => format!("{country}|{number}"),
            None => number,
        }));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Lowercase words of letters and digits, accents folded, sorted: "SMITH, John" and
/// "john  smith" are the same name.
fn normalised_name(name: &str) -> String {
    let mut words = super::flags::name_words(name);
    words.sort_unstable();
    words.join(" ")
}

/// Digits only, and a whole day (`YYYYMMDD`): a year alone matches too many people.
fn normalised_date(date: &str) -> Option<String> {
    let digits: String = date.chars().filter(char::is_ascii_digit).collect();
    (digits.len() == 8).then_some(digits)
}

/// Uppercase ASCII letters and digits only: "ab 12-34" and "AB1234" are one number.
fn normalised_code(text: &str) -> String {
    deunicode::deunicode(text).chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect()
}

/// A country as ISO alpha-3 however the provider wrote it ("GB", "GBR", "United
/// Kingdom"), so one document compares equal across providers; one not recognised is
/// kept as its uppercase alphanumerics.
fn normalised_country(country: &str) -> String {
    let code = normalised_code(country);
    let alpha3 = COUNTRIES.lines().find_map(|line| {
        let mut parts = line.split(' ');
        let (alpha2, alpha3) = (parts.next()?, parts.next()?);
        (code == alpha2 || code == alpha3 || parts.any(|name| name == code)).then_some(alpha3)
    });
    alpha3.map_or(code.clone(), str::to_string)
}

/// ISO 3166-1 countries, one a line: alpha-2, alpha-3, then the English names as
/// [`normalised_code`] writes them (from Debian's iso-codes).
const COUNTRIES: &str = "\
AW ABW ARUBA
AF AFG AFGHANISTAN
AO AGO ANGOLA
AI AIA ANGUILLA
AX ALA ALANDISLANDS
AL ALB ALBANIA
AD AND ANDORRA
AE ARE UNITEDARABEMIRATES
AR ARG ARGENTINA
AM ARM ARMENIA
AS ASM AMERICANSAMOA
AQ ATA ANTARCTICA
TF ATF FRENCHSOUTHERNTERRITORIES
AG ATG ANTIGUAANDBARBUDA
AU AUS AUSTRALIA
AT AUT AUSTRIA
AZ AZE AZERBAIJAN
BI BDI BURUNDI
BE BEL BELGIUM
BJ BEN BENIN
BQ BES BONAIRESINTEUSTATIUSANDSABA
BF BFA BURKINAFASO
BD BGD BANGLADESH
BG BGR BULGARIA
BH BHR BAHRAIN
BS BHS BAHAMAS
BA BIH BOSNIAANDHERZEGOVINA
BL BLM SAINTBARTHELEMY
BY BLR BELARUS
BZ BLZ BELIZE
BM BMU BERMUDA
BO BOL BOLIVIAPLURINATIONALSTATEOF BOLIVIA
BR BRA BRAZIL
BB BRB BARBADOS
BN BRN BRUNEIDARUSSALAM
BT BTN BHUTAN
BV BVT BOUVETISLAND
BW BWA BOTSWANA
CF CAF CENTRALAFRICANREPUBLIC
CA CAN CANADA
CC CCK COCOSKEELINGISLANDS
CH CHE SWITZERLAND
CL CHL CHILE
CN CHN CHINA
CI CIV COTEDIVOIRE
CM CMR CAMEROON
CD COD CONGOTHEDEMOCRATICREPUBLICOFTHE
CG COG CONGO
CK COK COOKISLANDS
CO COL COLOMBIA
KM COM COMOROS
CV CPV CABOVERDE
CR CRI COSTARICA
CU CUB CUBA
CW CUW CURACAO
CX CXR CHRISTMASISLAND
KY CYM CAYMANISLANDS
CY CYP CYPRUS
CZ CZE CZECHIA
DE DEU GERMANY
DJ DJI DJIBOUTI
DM DMA DOMINICA
DK DNK DENMARK
DO DOM DOMINICANREPUBLIC
DZ DZA ALGERIA
EC ECU ECUADOR
EG EGY EGYPT
ER ERI ERITREA
EH ESH WESTERNSAHARA
ES ESP SPAIN
EE EST ESTONIA
ET ETH ETHIOPIA
FI FIN FINLAND
FJ FJI FIJI
FK FLK FALKLANDISLANDSMALVINAS
FR FRA FRANCE
FO FRO FAROEISLANDS
FM FSM MICRONESIAFEDERATEDSTATESOF
GA GAB GABON
GB GBR UNITEDKINGDOM
GE GEO GEORGIA
GG GGY GUERNSEY
GH GHA GHANA
GI GIB GIBRALTAR
GN GIN GUINEA
GP GLP GUADELOUPE
GM GMB GAMBIA
GW GNB GUINEABISSAU
GQ GNQ EQUATORIALGUINEA
GR GRC GREECE
GD GRD GRENADA
GL GRL GREENLAND
GT GTM GUATEMALA
GF GUF FRENCHGUIANA
GU GUM GUAM
GY GUY GUYANA
HK HKG HONGKONG
HM HMD HEARDISLANDANDMCDONALDISLANDS
HN HND HONDURAS
HR HRV CROATIA
HT HTI HAITI
HU HUN HUNGARY
ID IDN INDONESIA
IM IMN ISLEOFMAN
IN IND INDIA
IO IOT BRITISHINDIANOCEANTERRITORY
IE IRL IRELAND
IR IRN IRANISLAMICREPUBLICOF IRAN
IQ IRQ IRAQ
IS ISL ICELAND
IL ISR ISRAEL
IT ITA ITALY
JM JAM JAMAICA
JE JEY JERSEY
JO JOR JORDAN
JP JPN JAPAN
KZ KAZ KAZAKHSTAN
KE KEN KENYA
KG KGZ KYRGYZSTAN
KH KHM CAMBODIA
KI KIR KIRIBATI
KN KNA SAINTKITTSANDNEVIS
KR KOR KOREAREPUBLICOF SOUTHKOREA
KW KWT KUWAIT
LA LAO LAOPEOPLESDEMOCRATICREPUBLIC LAOS
LB LBN LEBANON
LR LBR LIBERIA
LY LBY LIBYA
LC LCA SAINTLUCIA
LI LIE LIECHTENSTEIN
LK LKA SRILANKA
LS LSO LESOTHO
LT LTU LITHUANIA
LU LUX LUXEMBOURG
LV LVA LATVIA
MO MAC MACAO
MF MAF SAINTMARTINFRENCHPART
MA MAR MOROCCO
MC MCO MONACO
MD MDA MOLDOVAREPUBLICOF MOLDOVA
MG MDG MADAGASCAR
MV MDV MALDIVES
MX MEX MEXICO
MH MHL MARSHALLISLANDS
MK MKD NORTHMACEDONIA
ML MLI MALI
MT MLT MALTA
MM MMR MYANMAR
ME MNE MONTENEGRO
MN MNG MONGOLIA
MP MNP NORTHERNMARIANAISLANDS
MZ MOZ MOZAMBIQUE
MR MRT MAURITANIA
MS MSR MONTSERRAT
MQ MTQ MARTINIQUE
MU MUS MAURITIUS
MW MWI MALAWI
MY MYS MALAYSIA
YT MYT MAYOTTE
NA NAM NAMIBIA
NC NCL NEWCALEDONIA
NE NER NIGER
NF NFK NORFOLKISLAND
NG NGA NIGERIA
NI NIC NICARAGUA
NU NIU NIUE
NL NLD NETHERLANDS
NO NOR NORWAY
NP NPL NEPAL
NR NRU NAURU
NZ NZL NEWZEALAND
OM OMN OMAN
PK PAK PAKISTAN
PA PAN PANAMA
PN PCN PITCAIRN
PE PER PERU
PH PHL PHILIPPINES
PW PLW PALAU
PG PNG PAPUANEWGUINEA
PL POL POLAND
PR PRI PUERTORICO
KP PRK KOREADEMOCRATICPEOPLESREPUBLICOF NORTHKOREA
PT PRT PORTUGAL
PY PRY PARAGUAY
PS PSE PALESTINESTATEOF
PF PYF FRENCHPOLYNESIA
QA QAT QATAR
RE REU REUNION
RO ROU ROMANIA
RU RUS RUSSIANFEDERATION
RW RWA RWANDA
SA SAU SAUDIARABIA
SD SDN SUDAN
SN SEN SENEGAL
SG SGP SINGAPORE
GS SGS SOUTHGEORGIAANDTHESOUTHSANDWICHISLANDS
SH SHN SAINTHELENAASCENSIONANDTRISTANDACUNHA
SJ SJM SVALBARDANDJANMAYEN
SB SLB SOLOMONISLANDS
SL SLE SIERRALEONE
SV SLV ELSALVADOR
SM SMR SANMARINO
SO SOM SOMALIA
PM SPM SAINTPIERREANDMIQUELON
RS SRB SERBIA
SS SSD SOUTHSUDAN
ST STP SAOTOMEANDPRINCIPE
SR SUR SURINAME
SK SVK SLOVAKIA
SI SVN SLOVENIA
SE SWE SWEDEN
SZ SWZ ESWATINI
SX SXM SINTMAARTENDUTCHPART
SC SYC SEYCHELLES
SY SYR SYRIANARABREPUBLIC SYRIA
TC TCA TURKSANDCAICOSISLANDS
TD TCD CHAD
TG TGO TOGO
TH THA THAILAND
TJ TJK TAJIKISTAN
TK TKL TOKELAU
TM TKM TURKMENISTAN
TL TLS TIMORLESTE
TO TON TONGA
TT TTO TRINIDADANDTOBAGO
TN TUN TUNISIA
TR TUR TURKIYE
TV TUV TUVALU
TW TWN TAIWANPROVINCEOFCHINA TAIWAN
TZ TZA TANZANIAUNITEDREPUBLICOF TANZANIA
UG UGA UGANDA
UA UKR UKRAINE
UM UMI UNITEDSTATESMINOROUTLYINGISLANDS
UY URY URUGUAY
US USA UNITEDSTATES
UZ UZB UZBEKISTAN
VA VAT HOLYSEEVATICANCITYSTATE
VC VCT SAINTVINCENTANDTHEGRENADINES
VE VEN VENEZUELABOLIVARIANREPUBLICOF VENEZUELA
VG VGB VIRGINISLANDSBRITISH
VI VIR VIRGINISLANDSUS
VN VNM VIETNAM
VU VUT VANUATU
WF WLF WALLISANDFUTUNA
WS WSM SAMOA
YE YEM YEMEN
ZA ZAF SOUTHAFRICA
ZM ZMB ZAMBIA
ZW ZWE ZIMBABWE";

/// Where a related case stands in kycdesk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// In the working queue, in this lane.
    Queued(Lane),
    /// Its last decision that still stands (saved, being sent, or sent).
    Decided { verdict: Verdict, at: DateTime<Utc> },
    /// Neither: the provider stopped referring it and nothing was decided in kycdesk.
    Settled,
}

/// Another case about the same person, as the store found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelatedCase {
    pub case_ref: CaseRef,
    /// From the queue, if the case is still in it.
    pub applicant: Option<SafeText>,
    /// Every kind of key the two cases share, in [`IdentityKind`] order.
    pub matched: Vec<IdentityKind>,
    pub standing: Standing,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Applicant, Document, ProviderId};

    fn case(name: &str, birth: Option<&str>, docs: &[(Option<&str>, Option<&str>)]) -> Case {
        Case {
            case_ref: CaseRef::new(ProviderId::Sumsub, "a1"),
            check_type: SafeText::new("kyc"),
            status: SafeText::new("onHold"),
            why_referred: SafeText::new("liveness"),
            created_at: None,
            applicant: Applicant {
                name: SafeText::new(name),
                date_of_birth: birth.and_then(crate::domain::dates::DateValue::parse),
                ..Applicant::default()
            },
            documents: docs
                .iter()
                .map(|(country, number)| Document {
                    id: "d1".into(),
                    doc_type: SafeText::new("passport"),
                    country: country.map(SafeText::new),
                    number: number.map(SafeText::new),
                    expiry: None,
                    holder_name: None,
                    date_of_birth: None,
                    sides: vec![],
                    fields: vec![],
                })
                .collect(),
            selfie: None,
            rules: vec![],
            face_match: None,
            screening: vec![],
            targets: vec![],
        }
    }

    fn name_key(name: &str, birth: &str) -> Option<IdentityKey> {
        identity_keys(&case(name, Some(birth), &[])).into_iter().next()
    }

    #[test]
    fn a_name_is_the_same_however_a_provider_writes_it() {
        let expected = Some(IdentityKey::NameAndBirth("john smith|19900102".into()));
        assert_eq!(name_key("John Smith", "1990-01-02"), expected);
        assert_eq!(name_key("SMITH, John", "1990-01-02"), expected);
        assert_eq!(name_key("  smith   john. ", "1990-01-02"), expected);
        assert_eq!(name_key("Zoë Łukasiewicz-Müller", "1990-01-02"), name_key("MULLER lukasiewicz, ZOE", "19900102"));
        assert_ne!(name_key("John Smith", "1990-01-02"), name_key("Jon Smith", "1990-01-02"));
        assert_ne!(name_key("John Smith", "1990-01-02"), name_key("John Smith", "1990-02-01"));
    }

    #[test]
    fn no_name_key_without_a_whole_date_of_birth_or_a_name() {
        assert!(identity_keys(&case("John Smith", None, &[])).is_empty());
        assert!(identity_keys(&case("John Smith", Some("1990"), &[])).is_empty(), "a year alone is too weak");
        assert!(identity_keys(&case(" ,. ", Some("1990-01-02"), &[])).is_empty());
    }

    #[test]
    fn document_numbers_compare_as_uppercase_alphanumerics_with_their_country() {
        let keys = identity_keys(&case("", None, &[(Some("gb"), Some("ab 123-456")), (None, Some("X9876543"))]));
        assert_eq!(keys, vec![IdentityKey::Document("GBR|AB123456".into()), IdentityKey::Document("X9876543".into())]);
        for country in ["GBR", "United Kingdom", "gb"] {
            let same = identity_keys(&case("", None, &[(Some(country), Some("AB123456"))]));
            assert_eq!(same, vec![IdentityKey::Document("GBR|AB123456".into())], "{country}");
        }
        let unknown = identity_keys(&case("", None, &[(Some("Atlantis 2"), Some("AB123456"))]));
        assert_eq!(unknown, vec![IdentityKey::Document("ATLANTIS2|AB123456".into())]);
        let named = identity_keys(&case("", None, &[(Some("Côte d'Ivoire"), Some("AB123456"))]));
        assert_eq!(named, vec![IdentityKey::Document("CIV|AB123456".into())]);
    }

    #[test]
    fn placeholder_and_repeated_numbers_give_no_extra_keys() {
        let keys = identity_keys(&case(
            "Jane Doe",
            Some("1985-05-06"),
            &[
                (Some("FRA"), Some("N/A")),
                (None, None),
                (Some("FRA"), Some("12AB34567")),
                (Some("fra"), Some("12ab34567")),
            ],
        ));
        assert_eq!(
            keys,
            vec![IdentityKey::NameAndBirth("doe jane|19850506".into()), IdentityKey::Document("FRA|12AB34567".into()),]
        );
        assert_eq!(keys.iter().map(IdentityKey::kind).collect::<Vec<_>>(), IdentityKind::ALL.to_vec());
    }

    #[test]
    fn kinds_round_trip_through_their_stored_names() {
        for kind in IdentityKind::ALL {
            assert_eq!(IdentityKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(IdentityKind::parse("other"), None);
    }
}
