"""PII scanner: validated positives and the near misses that must stay quiet."""

from __future__ import annotations

import pytest

from proxy.scanners import SCANNERS, scan_text

PII = SCANNERS["pii"]

POSITIVES = [
    ("mail jane.doe+tag@example.co.uk today", "pii.email", "jane.doe+tag@example.co.uk"),
    ("call (415) 555-2671 now", "pii.phone", "(415) 555-2671"),
    ("call 415-555-2671", "pii.phone", "415-555-2671"),
    ("text +1 415 555 2671", "pii.phone", "+1 415 555 2671"),
    ("UK +44 20 7946 0958.", "pii.phone", "+44 20 7946 0958"),
    ("DE +49 30 901820", "pii.phone", "+49 30 901820"),
    ("FR +33 1 42 68 53 00", "pii.phone", "+33 1 42 68 53 00"),
    ("NL +31 6 12345678", "pii.phone", "+31 6 12345678"),
    ("Telefon: 030 901820", "pii.phone", "030 901820"),
    # "00" dialled where "+" is written, the country code set apart: no phone word needed.
    ("reach us at 0049 30 901820", "pii.phone", "0049 30 901820"),
    ("Paris 0033 1 42 68 53 00.", "pii.phone", "0033 1 42 68 53 00"),
    ("US office 001 415 555 2671", "pii.phone", "001 415 555 2671"),
    ("Dublin 00353-1-234-5678", "pii.phone", "00353-1-234-5678"),
    ("ids 0001 2345 6789 0123 4567 8901 0044 20 7946 0958", "pii.phone", "0044 20 7946 0958"),
    ("card 4111 1111 1111 1111 ok", "pii.credit_card", "4111 1111 1111 1111"),
    ("amex 3782-822463-10005", "pii.credit_card", "3782-822463-10005"),
    ("mc 5555555555554444.", "pii.credit_card", "5555555555554444"),
    ("SSN 123-45-6789", "pii.us_ssn", "123-45-6789"),
    ("social security number 123456789", "pii.us_ssn", "123456789"),
    ("SSN 219 09 9999 on file", "pii.us_ssn", "219 09 9999"),
    ("social security no. 219.09.9999", "pii.us_ssn", "219.09.9999"),
    ("SSN#219-09-9999", "pii.us_ssn", "219-09-9999"),
    ("write to o'brien@example.ie", "pii.email", "o'brien@example.ie"),
    ("contact 'bob@example.com' today", "pii.email", "bob@example.com"),
    ("IBAN DE89 3704 0044 0532 0130 00.", "pii.iban", "DE89 3704 0044 0532 0130 00"),
    ("iban GB29NWBK60161331926819 thanks", "pii.iban", "GB29NWBK60161331926819"),
    ("wire it to gb82 west 1234 5698 7654 32 today", "pii.iban", "gb82 west 1234 5698 7654 32"),
    ("my iban is de89370400440532013000", "pii.iban", "de89370400440532013000"),
    ("from 203.0.113.9:443", "pii.ip_address", "203.0.113.9"),
    ("ssh ubuntu@10.1.2.3 'ls'", "pii.ip_address", "10.1.2.3"),
    ("peer 2001:db8::8a2e:370:7334 up", "pii.ip_address", "2001:db8::8a2e:370:7334"),
    ("src=fe80::1ff:fe23:4567:890a", "pii.ip_address", "fe80::1ff:fe23:4567:890a"),
    ("mapped ::ffff:192.0.2.1 seen", "pii.ip_address", "::ffff:192.0.2.1"),
    ("Connect to 2001:db8::8a2e:370:7334.", "pii.ip_address", "2001:db8::8a2e:370:7334"),
    # The host of a URL: the "//" before it is no path.
    ("see http://10.0.0.1:8080/x", "pii.ip_address", "10.0.0.1"),
    ("ssh://203.0.113.9/", "pii.ip_address", "203.0.113.9"),
    # A field name spelt as an identifier says "social security number" too.
    ('{"social_security_number": "219099999"}', "pii.us_ssn", "219099999"),
    ("socialSecurityNumber=219099999", "pii.us_ssn", "219099999"),
    ("export SOCIALSECURITYNUMBER=219099999", "pii.us_ssn", "219099999"),
    ("Social_Security_No: 219.09.9999", "pii.us_ssn", "219.09.9999"),
    # Maestro's old 0604 range, 12 digits.
    ("card_number: 060493465623", "pii.credit_card", "060493465623"),
    # A phone word inside a longer word still counts where the word is about phones.
    ("Mobiltelefon: 030 901820", "pii.phone", "030 901820"),
    ("cellphone 415 555 2671", "pii.phone", "415 555 2671"),
    # The country code in brackets; an extension right after an international number.
    ("Call (+44) 20 7946 0958 now", "pii.phone", "(+44) 20 7946 0958"),
    ("Kontakt: (+31) 20 123 4567.", "pii.phone", "(+31) 20 123 4567"),
    ("desk +14155552671x12 today", "pii.phone", "+14155552671x12"),
    ("desk +1 415 555 2671 ext. 12", "pii.phone", "+1 415 555 2671 ext. 12"),
    # Pasted CSV without spaces: a comma separates fields.
    ("1001,4111111111111111,Jane", "pii.credit_card", "4111111111111111"),
    ("jane,+14155552671,2024", "pii.phone", "+14155552671"),
    ("a,123-45-6789,b", "pii.us_ssn", "123-45-6789"),
    # Nine digits in a table column headed SSN, however far below the header.
    ("name,email,ssn\nA,a@b.io,219099999", "pii.us_ssn", "219099999"),
    ("name,email,ssn\nA,a@b.io,219099999\nB,b@c.io,378475687", "pii.us_ssn", "378475687"),
    ("Rows:\nname;ssn\nA;219099999\nB;378475687", "pii.us_ssn", "378475687"),
    ("name\tssn\nA\t219099999\nB\t378475687", "pii.us_ssn", "378475687"),
    (
        "| build | ssn |\n|---|---|\n| 10.0.24966.2402 | 025980922 |\n| 7.1 | 589657191 |",
        "pii.us_ssn",
        "589657191",
    ),
    # Nine digits in the column an SQL INSERT names SSN, in any of its rows.
    (
        "INSERT INTO people (name, ssn, city) VALUES ('Ann, Jr.', '219099999', 'Oslo');",
        "pii.us_ssn",
        "219099999",
    ),
    (
        "insert into t (`id`, `socialSecurityNumber`)\nvalues\n  (1, 219099999),\n"
        "  (2, 378475687);",
        "pii.us_ssn",
        "378475687",
    ),
]

NEGATIVES = [
    "Mention icon@2x.png and logo@3x.webp in the README.",
    # Nine digits in a field of their own, beside an SSN field: an id.
    "ssn: 933-45-6789\n  id: 786109640",
    '{"ssn":"000-12-3456","id":"332176443"}',
    "name,id\nJane,219099999",
    "name,id,ssn_checked\nA1,378475687,yes\nB2,589657191,no",
    # An INSERT's other columns, and the statement after it, are not its SSN column.
    "INSERT INTO people (ssn, id) VALUES ('933-45-6789', '219099999');",
    "INSERT INTO people (id, ssn) VALUES (1, NULL); SELECT 219099999, 378475687;",
    # Decimal commas and thousands groups.
    "pi is 3,14159265358979; total 1,234,567,890 units; Koordinaten 52,5200066 13,404954",
    # Brackets around a "+" and a few digits that make no valid number.
    "see (+1) for details 2024, version (+3.2.1), order (+12345678) shipped",
    "(+44) 20 7946 095 is one digit short",
    "Use @pytest.fixture and @app.route here.",
    "npm install left-pad@1.3.0",
    "Card 4111 1111 1111 1112 fails Luhn.",
    "Dummy 1234 5678 9012 3456",
    "Example only: SSN 000-12-3456, 666-12-3456, 900-12-3456, 123-00-4567, 123-45-0000.",
    "Order 123456789 shipped.",
    # Spaced or dotted nine digits, or one after "#", are an SSN only where the text says so.
    "Parts 219 09 9999 and 219.09.9999 in stock, ticket #219-09-9999.",
    "SSN 219 09 99990 and SSN#219-09-99991 are too long.",
    "time 12:30:45.123 and ::ffff:1.2 and fe80::1.2.3",
    "Transfer to DE89 3704 0044 0532 0130 01 failed (bad check digits).",
    # Lower case: an identifier or a digest as often as bank details, so only with a bank word.
    "Commit de89370400440532013000 and build gb82west12345698765432 passed.",
    "Transfer to de89 3704 0044 0532 0130 01 failed.",
    # "00" and no country code, or a number no plan has: account and part numbers.
    "Account 0012 3456 7890 and part 0033 1234 5678.",
    "Order 0044207946095 shipped.",
    # "00" and then no number at all: nothing to read as a country code (this raised once).
    "Ratios 00.1 2345 6789 and 00(1) 555 2671 22 and 00-1 2345.",
    "Windows build 10.0.22631.3930 and OID 1.3.6.1.4.1.32473.1",
    "Release 1.2.3.4-rc1 and v1.2.3.4",
    "127.0.0.1 and 0.0.0.0 and 255.255.255.0",
    "Last heartbeat at 1733297077801 (unix time), margin 1614578980.",
    "Ship to postcode 30041-5085.",
    "Quote 802-4810505-7674222: $73,175.41",
    "Case No. 2023-401719 filed 21.08.2027 and 12/05/2023.",
    "ISBN 978-1-4165-6220-7 and ISBN 1-09-902440-4",
    "Trace c0a69bac-5831-4810-9057-dead4ec5e43d",
    "sha256:9cd1369bdac71e26ff39ec7d4e752d7218d6987dc3bafca43bd6e9b3d021994c",
    "std::vector<int> and a::b and 12:30:45",
    "The price is $1,234,567.89 or 1234567 units.",
    # A browser's version in its user agent, and path segments, are no addresses.
    "Mozilla/5.0 (X11; Linux i686; rv:1.9.2.20) Gecko/20110805 Firefox/3.6.20",
    "GET /files/10.0.0.1/report and see v:1.2.3.4",
    # Phone words only at the start of a word: "context", "recall", "hotel" are not phone words.
    "  context ts=1516914540",
    "recall 4155552671 rows from hotel 030 901820",
    # A social security field name and numbers outside the SSN ranges; "socket sec" is none.
    "social_security_number: 000123456 or 666123456; socket sec 219099999",
    # Not a Maestro number: 0604 and a Luhn failure.
    "card_number: 060493465624",
]


@pytest.mark.parametrize(("text", "kind", "value"), POSITIVES)
def test_positive(text: str, kind: str, value: str) -> None:
    found = [(f.kind, text[f.start : f.end]) for f in PII.scan(text)]
    assert (kind, value) in found


@pytest.mark.parametrize("text", NEGATIVES)
def test_near_miss_is_not_flagged(text: str) -> None:
    assert PII.scan(text) == []


def test_secret_wins_over_pii_inside_it() -> None:
    token = "xoxb-" + "4155552671" + "-4111111111111111-" + "aB3dE5gH7jK9mN1p"
    findings = scan_text(f"SLACK={token}", [PII, SCANNERS["secrets"]])
    assert [f.kind for f in findings] == ["secret.slack_token"]


def test_findings_are_sorted_and_scored() -> None:
    text = "a@b.io, 10.0.0.7, 123-45-6789"
    findings = scan_text(text)
    assert [f.start for f in findings] == sorted(f.start for f in findings)
    assert all(0 < f.score <= 1 for f in findings)
    assert all(f.end - f.start <= PII.max_match_len for f in findings)


# Values inside long runs of look-alikes: the run is split at token level, so the value is found
# wherever it sits, and the near misses around it stay quiet.
CARD = "4111 1111 1111 1111"
RUNS = [
    ("4111 1111 1111 111 " * 40 + CARD + " end", "pii.credit_card", CARD),
    ("1 " * 400 + "call 415-555-2671", "pii.phone", "415-555-2671"),
    ("9 " * 400 + "(415) 555-2671", "pii.phone", "(415) 555-2671"),
    ("1.2." * 300 + " then 203.0.113.9", "pii.ip_address", "203.0.113.9"),
    ("a:" * 600 + " 2001:db8::8a2e:370:7334", "pii.ip_address", "2001:db8::8a2e:370:7334"),
    ("peer 2001:db8:0:0:8a2e:0:370:7334:443", "pii.ip_address", "2001:db8:0:0:8a2e:0:370:7334"),
    ("phone: 06 12 34 56 78", "pii.phone", "06 12 34 56 78"),
    ("0 " * 50 + "+44 20 7946 0958", "pii.phone", "+44 20 7946 0958"),
]


@pytest.mark.parametrize(("text", "kind", "value"), RUNS)
def test_value_inside_a_long_run(text: str, kind: str, value: str) -> None:
    found = [(f.kind, text[f.start : f.end]) for f in PII.scan(text)]
    assert (kind, value) in found


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 111 " * 60,  # 15-digit Visa shape: no brand length
        "4111 1111 1111 1112 " * 60,  # Luhn fails everywhere
        "4111  1111 1111 1111",  # two spaces are not a card grouping
        "1 " * 2000,
        "a:" * 2000,
        "g1:" * 2000,
        "((((" * 500 + "1",
        "0 12 34 56 78 90 " * 40,  # national shape, no phone word
    ],
)
def test_long_near_miss_runs_stay_quiet(text: str) -> None:
    assert PII.scan(text) == []


def test_phone_length_filter_agrees_with_libphonenumber() -> None:
    """The cheap length check only skips parses that libphonenumber would reject."""
    import random

    import phonenumbers

    from proxy.scanners.pii_phone import phone_valid

    def reference(candidate: str, regions: tuple[str, ...]) -> bool:
        for region in regions:
            try:
                number = phonenumbers.parse(candidate, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return True
        return False

    rng = random.Random(4)
    regions = ("US", "GB", "DE", "FR", "NL")
    prefixes = ["", "", "0", "00", "011", "1", "44", "49", "33", "31", "180020"]
    for _ in range(1500):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 14)))
        candidate = rng.choice(prefixes) + digits
        assert phone_valid(candidate, regions) == reference(candidate, regions), candidate


def test_every_phone_of_a_long_list_is_found_past_the_parse_budget() -> None:
    lines = [f"call (415) 555-26{i:02d}" for i in range(100)]
    lines += [f"tel 030 9018{i:02d}" for i in range(100)]
    text = "\n".join(lines)
    phones = [text[f.start : f.end] for f in PII.scan(text) if f.kind == "pii.phone"]
    assert phones == [line.split(" ", 1)[1] for line in lines]


@pytest.mark.parametrize("candidate", ["0123", "9999999999999999", "1000 0000 0000 0000"])
def test_past_the_budget_impossible_numbers_are_still_rejected(candidate: str) -> None:
    from proxy.scanners.pii_phone import PhoneBudget

    budget = PhoneBudget(0)
    budget.remaining = 0  # past the budget only the cheap check decides
    assert not budget.valid(candidate, ("US", "GB", "DE", "FR", "NL"))
