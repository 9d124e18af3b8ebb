"""Function-calling cases of our own, in the style of the public benchmarks: a request, one to
four functions described in JSON schema, and the one call expected, each argument with the
values accepted for it.

    from tests.function_cases import cases
    cases("dev")   # the half tuned on
    cases("test")  # the half only reported

The halves are split by function, not by request: every function of the test half is one the
development half never offers, so tuning on "dev" cannot learn the test half's wordings or
argument names. Both halves hold the same kinds of item: single values, enums quoted in a
description, optional arguments with defaults, numbers with separators, scales and words,
arrays, nested objects, and requests in Japanese.

An argument's accepted values: strings compare case-insensitively without surrounding spaces
and final punctuation, numbers by value, lists item by item; OPTIONAL among them means the
argument may be left out.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

OPTIONAL = ""  # among an argument's accepted values: leaving it out is right too


def fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


def s(description: str, **more: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **more}


def n(description: str, kind: str = "number", **more: Any) -> dict[str, Any]:
    return {"type": kind, "description": description, **more}


def strings(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


# Each function with requests for it: (question, {argument: [accepted values]}). The functions
# alternate between the halves (even places dev, odd test), in pairs of the same kind.
FUNCTIONS: list[tuple[dict[str, Any], list[tuple[str, dict[str, list[Any]]]]]] = []


def add(schema: dict[str, Any], templates: list[str], rows: list[dict[str, Any]]) -> None:
    """Cases for `schema`: each row's values put into the templates in turn (row i with
    template i mod len). A row maps placeholders to (text shown, accepted values) or to a
    plain accepted list for arguments the question does not print."""
    asks = []
    for index, row in enumerate(rows):
        template = templates[index % len(templates)]
        shown = {key: value[0] for key, value in row.items() if isinstance(value, tuple)}
        placeholders = set(re.findall(r"{(\w+)}", template))
        assert placeholders == set(shown), f"{schema['name']} row {index}: {sorted(placeholders ^ set(shown))}"
        expected = {key: (value[1] if isinstance(value, tuple) else value) for key, value in row.items()}
        asks.append((template.format(**shown), expected))
    FUNCTIONS.append((schema, asks))


UNIT = s("The temperature unit, 'celsius' or 'fahrenheit'.", default="celsius")
add(
    fn(
        "get_weather",
        "Get the current weather for a location.",
        {"location": s("The city, e.g. 'Paris'."), "unit": UNIT},
        ["location"],
    ),
    [
        "What's the weather like in {location} right now?",
        "Tell me the weather in {location} in {unit}.",
        "{location}の今の天気を教えて。",
        "How hot is it in {location}? Give it in {unit}.",
        "Weather for {location}, please.",
    ],
    [
        {"location": ("Paris", ["Paris"]), "unit": [OPTIONAL, "celsius"]},
        {"location": ("Boston", ["Boston"]), "unit": ("fahrenheit", ["fahrenheit"])},
        {"location": ("大阪", ["大阪", "Osaka"]), "unit": [OPTIONAL, "celsius"]},
        {"location": ("Cairo", ["Cairo"]), "unit": ("celsius", ["celsius"])},
        {"location": ("Manhattan", ["Manhattan"]), "unit": [OPTIONAL, "celsius"]},
        {"location": ("Lisbon", ["Lisbon"]), "unit": [OPTIONAL, "celsius"]},
        {"location": ("Denver", ["Denver"]), "unit": ("fahrenheit", ["fahrenheit"])},
        {"location": ("札幌", ["札幌", "Sapporo"]), "unit": [OPTIONAL, "celsius"]},
        {"location": ("Mumbai", ["Mumbai"]), "unit": ("celsius", ["celsius"])},
    ],
)
add(
    fn(
        "get_air_quality",
        "Get the air quality index of a city.",
        {"city": s("The city name."), "pollutant": s("Which pollutant: 'pm25', 'pm10' or 'ozone'.", default="pm25")},
        ["city"],
    ),
    [
        "What is the air quality in {city}?",
        "Check the {pollutant} level in {city}.",
        "{city}の空気の質はどう？",
        "Is the air in {city} clean today?",
        "Give me the {pollutant} reading for {city}.",
    ],
    [
        {"city": ("Delhi", ["Delhi"]), "pollutant": [OPTIONAL, "pm25"]},
        {"city": ("Beijing", ["Beijing"]), "pollutant": ("ozone", ["ozone"])},
        {"city": ("名古屋", ["名古屋", "Nagoya"]), "pollutant": [OPTIONAL, "pm25"]},
        {"city": ("Madrid", ["Madrid"]), "pollutant": [OPTIONAL, "pm25"]},
        {"city": ("Seoul", ["Seoul"]), "pollutant": ("pm10", ["pm10"])},
        {"city": ("Jakarta", ["Jakarta"]), "pollutant": [OPTIONAL, "pm25"]},
        {"city": ("Lima", ["Lima"]), "pollutant": ("ozone", ["ozone"])},
        {"city": ("福岡", ["福岡", "Fukuoka"]), "pollutant": [OPTIONAL, "pm25"]},
        {"city": ("Warsaw", ["Warsaw"]), "pollutant": [OPTIONAL, "pm25"]},
    ],
)
add(
    fn(
        "convert_currency",
        "Convert an amount of money from one currency to another.",
        {
            "amount": n("The amount to convert."),
            "from_currency": s("Three-letter code of the source currency."),
            "to_currency": s("Three-letter code of the target currency."),
        },
        ["amount", "from_currency", "to_currency"],
    ),
    [
        "Convert {amount} {from_currency} to {to_currency}.",
        "How much is {amount} {from_currency} in {to_currency}?",
        "{amount} {from_currency}を{to_currency}に換算して。",
    ],
    [
        {"amount": ("250", [250]), "from_currency": ("USD", ["USD"]), "to_currency": ("EUR", ["EUR"])},
        {"amount": ("2,000,000", [2000000]), "from_currency": ("JPY", ["JPY"]), "to_currency": ("USD", ["USD"])},
        {"amount": ("5000", [5000]), "from_currency": ("JPY", ["JPY"]), "to_currency": ("GBP", ["GBP"])},
        {"amount": ("1.5 million", [1500000]), "from_currency": ("EUR", ["EUR"]), "to_currency": ("CHF", ["CHF"])},
        {"amount": ("75", [75]), "from_currency": ("CAD", ["CAD"]), "to_currency": ("USD", ["USD"])},
        {"amount": ("3万", [30000]), "from_currency": ("JPY", ["JPY"]), "to_currency": ("EUR", ["EUR"])},
        {"amount": ("twenty", [20]), "from_currency": ("GBP", ["GBP"]), "to_currency": ("JPY", ["JPY"])},
        {"amount": ("12,500", [12500]), "from_currency": ("AUD", ["AUD"]), "to_currency": ("NZD", ["NZD"])},
        {"amount": ("980", [980]), "from_currency": ("INR", ["INR"]), "to_currency": ("JPY", ["JPY"])},
    ],
)
add(
    fn(
        "loan_payment",
        "Calculate the monthly payment of a loan.",
        {
            "principal": n("The loan amount."),
            "annual_rate": n("Yearly interest rate in percent."),
            "years": n("Length of the loan in years.", "integer"),
        },
        ["principal", "annual_rate", "years"],
    ),
    [
        "What is the monthly payment on a {principal} loan at {annual_rate}% for {years} years?",
        "Monthly payment for borrowing {principal} at {annual_rate} percent over {years} years?",
        "{principal}円を年利{annual_rate}%で{years}年借りたら毎月いくら？",
    ],
    [
        {"principal": ("200,000", [200000]), "annual_rate": ("4.5", [4.5]), "years": ("30", [30])},
        {"principal": ("15000", [15000]), "annual_rate": ("6", [6]), "years": ("5", [5])},
        {"principal": ("3000000", [3000000]), "annual_rate": ("1.2", [1.2]), "years": ("35", [35])},
        {"principal": ("1.2 million", [1200000]), "annual_rate": ("3", [3]), "years": ("20", [20])},
        {"principal": ("50,000", [50000]), "annual_rate": ("7.5", [7.5]), "years": ("10", [10])},
        {"principal": ("500万", [5000000]), "annual_rate": ("2", [2]), "years": ("15", [15])},
        {"principal": ("80000", [80000]), "annual_rate": ("5", [5]), "years": ("twelve", [12])},
        {"principal": ("250,000", [250000]), "annual_rate": ("3.9", [3.9]), "years": ("25", [25])},
        {"principal": ("2000万", [20000000]), "annual_rate": ("0.9", [0.9]), "years": ("30", [30])},
    ],
)
add(
    fn(
        "get_population",
        "Get the population of a country.",
        {"country": s("The country name."), "year": n("The year of the figure.", "integer")},
        ["country"],
    ),
    [
        "What is the population of {country}?",
        "How many people lived in {country} in {year}?",
        "{country}の人口は？",
        "Population of {country} in {year}, please.",
    ],
    [
        {"country": ("Japan", ["Japan"]), "year": [OPTIONAL]},
        {"country": ("Brazil", ["Brazil"]), "year": ("2010", [2010])},
        {"country": ("ドイツ", ["ドイツ", "Germany"]), "year": [OPTIONAL]},
        {"country": ("Kenya", ["Kenya"]), "year": ("1990", [1990])},
        {"country": ("Canada", ["Canada"]), "year": [OPTIONAL]},
        {"country": ("Norway", ["Norway"]), "year": ("2000", [2000])},
        {"country": ("ベトナム", ["ベトナム", "Vietnam"]), "year": [OPTIONAL]},
        {"country": ("Chile", ["Chile"]), "year": ("2020", [2020])},
        {"country": ("Egypt", ["Egypt"]), "year": [OPTIONAL]},
    ],
)
add(
    fn(
        "get_gdp",
        "Get the gross domestic product of a country in US dollars.",
        {"country": s("The country name."), "year": n("The year of the figure.", "integer")},
        ["country"],
    ),
    [
        "What is the GDP of {country}?",
        "What was {country}'s GDP in {year}?",
        "{country}のGDPを調べて。",
        "Show the gross domestic product of {country} for {year}.",
    ],
    [
        {"country": ("France", ["France"]), "year": [OPTIONAL]},
        {"country": ("India", ["India"]), "year": ("2015", [2015])},
        {"country": ("韓国", ["韓国", "South Korea", "Korea"]), "year": [OPTIONAL]},
        {"country": ("Mexico", ["Mexico"]), "year": ("2005", [2005])},
        {"country": ("Italy", ["Italy"]), "year": [OPTIONAL]},
        {"country": ("Nigeria", ["Nigeria"]), "year": ("2019", [2019])},
        {"country": ("タイ", ["タイ", "Thailand"]), "year": [OPTIONAL]},
        {"country": ("Spain", ["Spain"]), "year": ("1999", [1999])},
        {"country": ("Peru", ["Peru"]), "year": [OPTIONAL]},
    ],
)
add(
    fn(
        "book_flight",
        "Book a flight between two cities.",
        {
            "origin": s("Departure city."),
            "destination": s("Arrival city."),
            "date": s("Date as YYYY-MM-DD."),
            "passengers": n("Number of passengers.", "integer", default=1),
        },
        ["origin", "destination", "date"],
    ),
    [
        "Book a flight from {origin} to {destination} on {date}.",
        "I need {passengers} seats from {origin} to {destination} on {date}.",
        "{date}に{origin}から{destination}への便を予約して。",
    ],
    [
        {
            "origin": ("London", ["London"]),
            "destination": ("Rome", ["Rome"]),
            "date": ("2026-12-05", ["2026-12-05"]),
            "passengers": [OPTIONAL, 1],
        },
        {
            "origin": ("Tokyo", ["Tokyo"]),
            "destination": ("Seattle", ["Seattle"]),
            "date": ("2027-01-10", ["2027-01-10"]),
            "passengers": ("3", [3]),
        },
        {
            "origin": ("東京", ["東京", "Tokyo"]),
            "destination": ("那覇", ["那覇", "Naha"]),
            "date": ("2026-12-20", ["2026-12-20"]),
            "passengers": [OPTIONAL, 1],
        },
        {
            "origin": ("Chicago", ["Chicago"]),
            "destination": ("Miami", ["Miami"]),
            "date": ("2027-02-14", ["2027-02-14"]),
            "passengers": [OPTIONAL, 1],
        },
        {
            "origin": ("Berlin", ["Berlin"]),
            "destination": ("Oslo", ["Oslo"]),
            "date": ("2027-03-01", ["2027-03-01"]),
            "passengers": ("two", [2]),
        },
        {
            "origin": ("大阪", ["大阪", "Osaka"]),
            "destination": ("札幌", ["札幌", "Sapporo"]),
            "date": ("2027-01-03", ["2027-01-03"]),
            "passengers": [OPTIONAL, 1],
        },
        {
            "origin": ("Sydney", ["Sydney"]),
            "destination": ("Perth", ["Perth"]),
            "date": ("2026-12-24", ["2026-12-24"]),
            "passengers": [OPTIONAL, 1],
        },
        {
            "origin": ("Paris", ["Paris"]),
            "destination": ("Vienna", ["Vienna"]),
            "date": ("2027-04-18", ["2027-04-18"]),
            "passengers": ("4", [4]),
        },
        {
            "origin": ("福岡", ["福岡", "Fukuoka"]),
            "destination": ("仙台", ["仙台", "Sendai"]),
            "date": ("2027-05-02", ["2027-05-02"]),
            "passengers": [OPTIONAL, 1],
        },
    ],
)
add(
    fn(
        "book_hotel",
        "Reserve a hotel room in a city.",
        {
            "city": s("The city."),
            "check_in": s("Check-in date as YYYY-MM-DD."),
            "nights": n("How many nights.", "integer"),
            "room_type": s("One of 'single', 'double' or 'suite'.", default="double"),
        },
        ["city", "check_in", "nights"],
    ),
    [
        "Reserve a hotel in {city} from {check_in} for {nights} nights.",
        "Book a {room_type} room in {city}, checking in {check_in}, {nights} nights.",
        "{check_in}から{nights}泊、{city}のホテルを予約して。",
    ],
    [
        {
            "city": ("Prague", ["Prague"]),
            "check_in": ("2026-12-10", ["2026-12-10"]),
            "nights": ("3", [3]),
            "room_type": [OPTIONAL, "double"],
        },
        {
            "city": ("Dublin", ["Dublin"]),
            "check_in": ("2027-01-15", ["2027-01-15"]),
            "nights": ("2", [2]),
            "room_type": ("suite", ["suite"]),
        },
        {
            "city": ("京都", ["京都", "Kyoto"]),
            "check_in": ("2027-03-20", ["2027-03-20"]),
            "nights": ("2", [2]),
            "room_type": [OPTIONAL, "double"],
        },
        {
            "city": ("Athens", ["Athens"]),
            "check_in": ("2027-06-01", ["2027-06-01"]),
            "nights": ("five", [5]),
            "room_type": [OPTIONAL, "double"],
        },
        {
            "city": ("Toronto", ["Toronto"]),
            "check_in": ("2027-02-02", ["2027-02-02"]),
            "nights": ("1", [1]),
            "room_type": ("single", ["single"]),
        },
        {
            "city": ("金沢", ["金沢", "Kanazawa"]),
            "check_in": ("2027-04-05", ["2027-04-05"]),
            "nights": ("4", [4]),
            "room_type": [OPTIONAL, "double"],
        },
        {
            "city": ("Budapest", ["Budapest"]),
            "check_in": ("2026-12-28", ["2026-12-28"]),
            "nights": ("7", [7]),
            "room_type": [OPTIONAL, "double"],
        },
        {
            "city": ("Zurich", ["Zurich"]),
            "check_in": ("2027-07-11", ["2027-07-11"]),
            "nights": ("2", [2]),
            "room_type": ("double", ["double"]),
        },
        {
            "city": ("広島", ["広島", "Hiroshima"]),
            "check_in": ("2027-08-08", ["2027-08-08"]),
            "nights": ("3", [3]),
            "room_type": [OPTIONAL, "double"],
        },
    ],
)
add(
    fn(
        "sum_numbers",
        "Add up a list of numbers.",
        {"numbers": {"type": "array", "items": {"type": "number"}, "description": "The numbers to add."}},
        ["numbers"],
    ),
    ["Add up {numbers}.", "What is the sum of {numbers}?", "{numbers}を足して。"],
    [
        {"numbers": ("3, 5 and 9", [[3, 5, 9]])},
        {"numbers": ("12, 7, 30 and 1", [[12, 7, 30, 1]])},
        {"numbers": ("4、8、15", [[4, 8, 15]])},
        {"numbers": ("2.5, 3.5 and 10", [[2.5, 3.5, 10]])},
        {"numbers": ("100, 200", [[100, 200]])},
        {"numbers": ("6、6、6、6", [[6, 6, 6, 6]])},
        {"numbers": ("11, 22, 33", [[11, 22, 33]])},
        {"numbers": ("1,000 and 250", [[1000, 250]])},
        {"numbers": ("9、1", [[9, 1]])},
    ],
)
add(
    fn(
        "sort_words",
        "Sort a list of words.",
        {"words": strings("The words to sort."), "order": s("Sort order, 'asc' or 'desc'.", default="asc")},
        ["words"],
    ),
    ["Sort these words: {words}.", "Sort {words} in {order} order.", "{words}を並べ替えて。"],
    [
        {"words": ("pear, apple, fig", [["pear", "apple", "fig"]]), "order": [OPTIONAL, "asc"]},
        {"words": ("zebra, cat, dog", [["zebra", "cat", "dog"]]), "order": ("desc", ["desc"])},
        {"words": ("りんご、みかん、ぶどう", [["りんご", "みかん", "ぶどう"]]), "order": [OPTIONAL, "asc"]},
        {"words": ("red, blue, green, black", [["red", "blue", "green", "black"]]), "order": [OPTIONAL, "asc"]},
        {"words": ("oak, elm, ash", [["oak", "elm", "ash"]]), "order": ("asc", ["asc"])},
        {"words": ("さくら、うめ", [["さくら", "うめ"]]), "order": [OPTIONAL, "asc"]},
        {"words": ("mars, venus, earth", [["mars", "venus", "earth"]]), "order": [OPTIONAL, "asc"]},
        {"words": ("lion, ant, bee", [["lion", "ant", "bee"]]), "order": ("desc", ["desc"])},
        {"words": ("東京、大阪", [["東京", "大阪"]]), "order": [OPTIONAL, "asc"]},
    ],
)
add(
    fn(
        "add_tags",
        "Add tags to a note.",
        {"note_id": n("The note's id.", "integer"), "tags": strings("The tags to add.")},
        ["note_id", "tags"],
    ),
    [
        "Tag note {note_id} with {tags}.",
        "Add the tags {tags} to note number {note_id}.",
        "ノート{note_id}に{tags}のタグを付けて。",
    ],
    [
        {"note_id": ("12", [12]), "tags": ("work, urgent", [["work", "urgent"]])},
        {"note_id": ("7", [7]), "tags": ("travel", [["travel"]])},
        {"note_id": ("31", [31]), "tags": ("仕事、重要", [["仕事", "重要"]])},
        {"note_id": ("105", [105]), "tags": ("recipe, dinner, easy", [["recipe", "dinner", "easy"]])},
        {"note_id": ("3", [3]), "tags": ("ideas", [["ideas"]])},
        {"note_id": ("48", [48]), "tags": ("買い物", [["買い物"]])},
        {"note_id": ("9", [9]), "tags": ("health, sleep", [["health", "sleep"]])},
        {"note_id": ("64", [64]), "tags": ("books", [["books"]])},
        {"note_id": ("220", [220]), "tags": ("旅行、夏", [["旅行", "夏"]])},
    ],
)
add(
    fn(
        "invite_guests",
        "Send invitations to a list of email addresses.",
        {"emails": strings("The guests' email addresses."), "event_name": s("The event's name.")},
        ["emails", "event_name"],
    ),
    [
        "Invite {emails} to {event_name}.",
        "Send a {event_name} invitation to {emails}.",
        "{event_name}に{emails}を招待して。",
    ],
    [
        {
            "emails": ("ann@example.com and bo@example.com", [["ann@example.com", "bo@example.com"]]),
            "event_name": ("the picnic", ["picnic", "the picnic"]),
        },
        {"emails": ("kim@mail.org", [["kim@mail.org"]]), "event_name": ("Board Meeting", ["Board Meeting"])},
        {"emails": ("taro@example.jp", [["taro@example.jp"]]), "event_name": ("忘年会", ["忘年会"])},
        {
            "emails": ("x@a.io, y@a.io, z@a.io", [["x@a.io", "y@a.io", "z@a.io"]]),
            "event_name": ("Launch Party", ["Launch Party"]),
        },
        {"emails": ("dev@team.net", [["dev@team.net"]]), "event_name": ("Code Review", ["Code Review"])},
        {
            "emails": ("hana@example.jp、ken@example.jp", [["hana@example.jp", "ken@example.jp"]]),
            "event_name": ("新年会", ["新年会"]),
        },
        {"emails": ("li@uni.edu", [["li@uni.edu"]]), "event_name": ("the seminar", ["seminar", "the seminar"])},
        {
            "emails": ("mom@home.org and dad@home.org", [["mom@home.org", "dad@home.org"]]),
            "event_name": ("Sunday Lunch", ["Sunday Lunch"]),
        },
        {"emails": ("sato@corp.jp", [["sato@corp.jp"]]), "event_name": ("研修", ["研修"])},
    ],
)
add(
    fn(
        "create_event",
        "Create a calendar event.",
        {
            "event": {
                "type": "object",
                "description": "The event.",
                "properties": {
                    "title": s("The event's title."),
                    "date": s("Date as YYYY-MM-DD."),
                    "attendees": strings("Names of the people attending."),
                },
                "required": ["title", "date"],
            }
        },
        ["event"],
    ),
    [
        "Create an event called {title} on {date} with {attendees}.",
        "Put {title} in my calendar for {date}, attendees {attendees}.",
        "{date}に{title}の予定を{attendees}と入れて。",
    ],
    [
        {
            "title": ("Team Sync", ["Team Sync"]),
            "date": ("2026-12-07", ["2026-12-07"]),
            "attendees": ("Ana and Raj", [["Ana", "Raj"]]),
        },
        {"title": ("Dentist", ["Dentist"]), "date": ("2027-01-12", ["2027-01-12"]), "attendees": ("Mia", [["Mia"]])},
        {"title": ("歓迎会", ["歓迎会"]), "date": ("2027-04-01", ["2027-04-01"]), "attendees": ("田中", [["田中"]])},
        {
            "title": ("Budget Review", ["Budget Review"]),
            "date": ("2027-02-20", ["2027-02-20"]),
            "attendees": ("Tom, Lee and Sam", [["Tom", "Lee", "Sam"]]),
        },
        {"title": ("Yoga", ["Yoga"]), "date": ("2026-12-15", ["2026-12-15"]), "attendees": ("Eva", [["Eva"]])},
        {
            "title": ("面談", ["面談"]),
            "date": ("2027-03-09", ["2027-03-09"]),
            "attendees": ("佐藤と鈴木", [["佐藤", "鈴木"]]),
        },
        {
            "title": ("Book Club", ["Book Club"]),
            "date": ("2027-05-05", ["2027-05-05"]),
            "attendees": ("Nina and Omar", [["Nina", "Omar"]]),
        },
        {"title": ("Demo Day", ["Demo Day"]), "date": ("2027-06-30", ["2027-06-30"]), "attendees": ("Kai", [["Kai"]])},
        {
            "title": ("打ち合わせ", ["打ち合わせ"]),
            "date": ("2027-01-20", ["2027-01-20"]),
            "attendees": ("山本", [["山本"]]),
        },
    ],
)
add(
    fn(
        "update_contact",
        "Update a contact's address.",
        {
            "contact": {
                "type": "object",
                "description": "The contact.",
                "properties": {
                    "name": s("The contact's full name."),
                    "address": {
                        "type": "object",
                        "properties": {"city": s("City."), "zip": s("Postal code.")},
                        "required": ["city", "zip"],
                    },
                },
                "required": ["name", "address"],
            }
        },
        ["contact"],
    ),
    [
        "Update {name}'s address to {city}, postal code {zip}.",
        "{name} moved to {city} ({zip}); update the contact.",
        "{name}の住所を{city}、郵便番号{zip}に更新して。",
    ],
    [
        {"name": ("John Smith", ["John Smith"]), "city": ("Denver", ["Denver"]), "zip": ("80202", ["80202"])},
        {"name": ("Maria Lopez", ["Maria Lopez"]), "city": ("Austin", ["Austin"]), "zip": ("73301", ["73301"])},
        {"name": ("山田花子", ["山田花子"]), "city": ("横浜", ["横浜", "Yokohama"]), "zip": ("220-0012", ["220-0012"])},
        {"name": ("Wei Chen", ["Wei Chen"]), "city": ("Portland", ["Portland"]), "zip": ("97201", ["97201"])},
        {"name": ("Lena Berg", ["Lena Berg"]), "city": ("Boise", ["Boise"]), "zip": ("83702", ["83702"])},
        {"name": ("鈴木一郎", ["鈴木一郎"]), "city": ("神戸", ["神戸", "Kobe"]), "zip": ("650-0001", ["650-0001"])},
        {"name": ("Omar Haddad", ["Omar Haddad"]), "city": ("Tampa", ["Tampa"]), "zip": ("33602", ["33602"])},
        {"name": ("Sara Kim", ["Sara Kim"]), "city": ("Reno", ["Reno"]), "zip": ("89501", ["89501"])},
        {"name": ("高橋健", ["高橋健"]), "city": ("仙台", ["仙台", "Sendai"]), "zip": ("980-0811", ["980-0811"])},
    ],
)
add(
    fn(
        "set_timer",
        "Start a countdown timer.",
        {"minutes": n("Length of the timer in minutes.", "integer"), "label": s("A name for the timer.")},
        ["minutes"],
    ),
    [
        "Set a timer for {minutes} minutes.",
        "Start a {minutes} minute timer called {label}.",
        "{minutes}分のタイマーをセットして。",
    ],
    [
        {"minutes": ("10", [10]), "label": [OPTIONAL]},
        {"minutes": ("25", [25]), "label": ("pasta", ["pasta"])},
        {"minutes": ("3", [3]), "label": [OPTIONAL]},
        {"minutes": ("forty-five", [45]), "label": [OPTIONAL]},
        {"minutes": ("90", [90]), "label": ("laundry", ["laundry"])},
        {"minutes": ("15", [15]), "label": [OPTIONAL]},
        {"minutes": ("twenty", [20]), "label": [OPTIONAL]},
        {"minutes": ("5", [5]), "label": ("tea", ["tea"])},
        {"minutes": ("60", [60]), "label": [OPTIONAL]},
    ],
)
add(
    fn(
        "set_reminder",
        "Set a reminder that goes off after some hours.",
        {"hours": n("Hours from now.", "integer"), "message": s("What to be reminded of.")},
        ["hours", "message"],
    ),
    [
        "Remind me in {hours} hours to {message}.",
        "In {hours} hours, remind me: {message}.",
        "{hours}時間後に「{message}」と知らせて。",
    ],
    [
        {"hours": ("2", [2]), "message": ("call the bank", ["call the bank"])},
        {"hours": ("8", [8]), "message": ("take my medicine", ["take my medicine"])},
        {"hours": ("3", [3]), "message": ("洗濯物を取り込む", ["洗濯物を取り込む"])},
        {"hours": ("twelve", [12]), "message": ("water the plants", ["water the plants"])},
        {"hours": ("1", [1]), "message": ("check the oven", ["check the oven"])},
        {"hours": ("5", [5]), "message": ("母に電話する", ["母に電話する"])},
        {"hours": ("24", [24]), "message": ("renew the passport", ["renew the passport"])},
        {"hours": ("six", [6]), "message": ("feed the cat", ["feed the cat"])},
        {"hours": ("4", [4]), "message": ("会議の準備", ["会議の準備"])},
    ],
)
add(
    fn(
        "circle_area",
        "Calculate the area of a circle.",
        {"radius": n("The radius."), "units": s("Length unit, 'cm', 'm' or 'in'.", default="cm")},
        ["radius"],
    ),
    [
        "What is the area of a circle with radius {radius}?",
        "Area of a circle of radius {radius} {units}?",
        "半径{radius}の円の面積は？",
    ],
    [
        {"radius": ("5", [5]), "units": [OPTIONAL, "cm"]},
        {"radius": ("12", [12]), "units": ("m", ["m"])},
        {"radius": ("3", [3]), "units": [OPTIONAL, "cm"]},
        {"radius": ("7.5", [7.5]), "units": [OPTIONAL, "cm"]},
        {"radius": ("2", [2]), "units": ("in", ["in"])},
        {"radius": ("10", [10]), "units": [OPTIONAL, "cm"]},
        {"radius": ("four", [4]), "units": [OPTIONAL, "cm"]},
        {"radius": ("0.5", [0.5]), "units": ("m", ["m"])},
        {"radius": ("9", [9]), "units": [OPTIONAL, "cm"]},
    ],
)
add(
    fn(
        "body_mass_index",
        "Calculate the body mass index.",
        {"weight_kg": n("Weight in kilograms."), "height_m": n("Height in metres.")},
        ["weight_kg", "height_m"],
    ),
    [
        "What is the BMI of someone who weighs {weight_kg} kg and is {height_m} m tall?",
        "Compute BMI: weight {weight_kg} kg, height {height_m} m.",
        "体重{weight_kg}kg、身長{height_m}mのBMIは？",
    ],
    [
        {"weight_kg": ("70", [70]), "height_m": ("1.75", [1.75])},
        {"weight_kg": ("82.5", [82.5]), "height_m": ("1.8", [1.8])},
        {"weight_kg": ("55", [55]), "height_m": ("1.6", [1.6])},
        {"weight_kg": ("95", [95]), "height_m": ("1.9", [1.9])},
        {"weight_kg": ("48", [48]), "height_m": ("1.52", [1.52])},
        {"weight_kg": ("63", [63]), "height_m": ("1.68", [1.68])},
        {"weight_kg": ("110", [110]), "height_m": ("1.85", [1.85])},
        {"weight_kg": ("58.2", [58.2]), "height_m": ("1.64", [1.64])},
        {"weight_kg": ("77", [77]), "height_m": ("1.72", [1.72])},
    ],
)
add(
    fn(
        "search_books",
        "Search the library catalogue for books.",
        {"author": s("The author's name."), "genre": s("One of 'fiction', 'history' or 'science'.")},
        ["author"],
    ),
    ["Find books by {author}.", "Search for {genre} books by {author}.", "{author}の本を探して。"],
    [
        {"author": ("Jane Austen", ["Jane Austen"]), "genre": [OPTIONAL]},
        {"author": ("Carl Sagan", ["Carl Sagan"]), "genre": ("science", ["science"])},
        {"author": ("夏目漱石", ["夏目漱石"]), "genre": [OPTIONAL]},
        {"author": ("Mary Beard", ["Mary Beard"]), "genre": [OPTIONAL]},
        {"author": ("Ursula Le Guin", ["Ursula Le Guin"]), "genre": ("fiction", ["fiction"])},
        {"author": ("村上春樹", ["村上春樹"]), "genre": [OPTIONAL]},
        {"author": ("Toni Morrison", ["Toni Morrison"]), "genre": [OPTIONAL]},
        {"author": ("Barbara Tuchman", ["Barbara Tuchman"]), "genre": ("history", ["history"])},
        {"author": ("宮部みゆき", ["宮部みゆき"]), "genre": [OPTIONAL]},
    ],
)
add(
    fn(
        "play_music",
        "Play music by an artist.",
        {
            "artist": s("The artist or band."),
            "shuffle": {"type": "boolean", "description": "Shuffle the songs.", "default": False},
        },
        ["artist"],
    ),
    ["Play some {artist}.", "Play {artist} on shuffle.", "{artist}の曲をかけて。"],
    [
        {"artist": ("Miles Davis", ["Miles Davis"]), "shuffle": [OPTIONAL, False]},
        {"artist": ("Queen", ["Queen"]), "shuffle": [True]},
        {"artist": ("宇多田ヒカル", ["宇多田ヒカル"]), "shuffle": [OPTIONAL, False]},
        {"artist": ("Adele", ["Adele"]), "shuffle": [OPTIONAL, False]},
        {"artist": ("Daft Punk", ["Daft Punk"]), "shuffle": [True]},
        {"artist": ("坂本龍一", ["坂本龍一"]), "shuffle": [OPTIONAL, False]},
        {"artist": ("Nina Simone", ["Nina Simone"]), "shuffle": [OPTIONAL, False]},
        {"artist": ("Radiohead", ["Radiohead"]), "shuffle": [True]},
        {"artist": ("美空ひばり", ["美空ひばり"]), "shuffle": [OPTIONAL, False]},
    ],
)
add(
    fn(
        "order_pizza",
        "Order a pizza for delivery.",
        {"size": s("Pizza size: 'small', 'medium' or 'large'."), "toppings": strings("The toppings.")},
        ["size", "toppings"],
    ),
    [
        "Order a {size} pizza with {toppings}.",
        "I want a {size} pizza, toppings: {toppings}.",
        "{toppings}の{size}ピザを注文して。",
    ],
    [
        {"size": ("large", ["large"]), "toppings": ("mushrooms and olives", [["mushrooms", "olives"]])},
        {"size": ("small", ["small"]), "toppings": ("pepperoni", [["pepperoni"]])},
        {"size": ("medium", ["medium"]), "toppings": ("ツナ、コーン", [["ツナ", "コーン"]])},
        {"size": ("medium", ["medium"]), "toppings": ("ham, pineapple, onion", [["ham", "pineapple", "onion"]])},
        {"size": ("large", ["large"]), "toppings": ("basil", [["basil"]])},
        {"size": ("small", ["small"]), "toppings": ("えび", [["えび"]])},
        {"size": ("small", ["small"]), "toppings": ("spinach and feta", [["spinach", "feta"]])},
        {"size": ("large", ["large"]), "toppings": ("sausage, peppers", [["sausage", "peppers"]])},
        {"size": ("large", ["large"]), "toppings": ("もち、チーズ", [["もち", "チーズ"]])},
    ],
)
add(
    fn(
        "stock_price",
        "Get the latest price of a stock.",
        {"symbol": s("The ticker symbol."), "exchange": s("The exchange, 'NASDAQ' or 'NYSE'.", default="NASDAQ")},
        ["symbol"],
    ),
    ["What is the stock price of {symbol}?", "Get the price of {symbol} on the {exchange}.", "{symbol}の株価は？"],
    [
        {"symbol": ("AAPL", ["AAPL"]), "exchange": [OPTIONAL, "NASDAQ"]},
        {"symbol": ("IBM", ["IBM"]), "exchange": ("NYSE", ["NYSE"])},
        {"symbol": ("MSFT", ["MSFT"]), "exchange": [OPTIONAL, "NASDAQ"]},
        {"symbol": ("TSLA", ["TSLA"]), "exchange": [OPTIONAL, "NASDAQ"]},
        {"symbol": ("KO", ["KO"]), "exchange": ("NYSE", ["NYSE"])},
        {"symbol": ("NVDA", ["NVDA"]), "exchange": [OPTIONAL, "NASDAQ"]},
        {"symbol": ("AMZN", ["AMZN"]), "exchange": [OPTIONAL, "NASDAQ"]},
        {"symbol": ("GE", ["GE"]), "exchange": ("NYSE", ["NYSE"])},
        {"symbol": ("SONY", ["SONY"]), "exchange": [OPTIONAL, "NASDAQ"]},
    ],
)
add(
    fn(
        "translate_text",
        "Translate text into another language.",
        {"text": s("The text to translate."), "target_language": s("The language to translate into.")},
        ["text", "target_language"],
    ),
    [
        "Translate '{text}' into {target_language}.",
        "How do you say '{text}' in {target_language}?",
        "「{text}」を{target_language}に翻訳して。",
    ],
    [
        {"text": ("good morning", ["good morning"]), "target_language": ("French", ["French"])},
        {"text": ("where is the station", ["where is the station"]), "target_language": ("Japanese", ["Japanese"])},
        {"text": ("ありがとう", ["ありがとう"]), "target_language": ("英語", ["英語", "English"])},
        {"text": ("see you tomorrow", ["see you tomorrow"]), "target_language": ("German", ["German"])},
        {"text": ("I love books", ["I love books"]), "target_language": ("Spanish", ["Spanish"])},
        {"text": ("おやすみなさい", ["おやすみなさい"]), "target_language": ("フランス語", ["フランス語", "French"])},
        {"text": ("the bill please", ["the bill please"]), "target_language": ("Italian", ["Italian"])},
        {"text": ("happy birthday", ["happy birthday"]), "target_language": ("Korean", ["Korean"])},
        {"text": ("いただきます", ["いただきます"]), "target_language": ("英語", ["英語", "English"])},
    ],
)
add(
    fn(
        "send_sms",
        "Send a text message to a phone number.",
        {"phone": s("The phone number."), "message": s("The text to send.")},
        ["phone", "message"],
    ),
    ["Text {phone}: {message}", "Send '{message}' to {phone}.", "{phone}に「{message}」とSMSを送って。"],
    [
        {"phone": ("555-0142", ["555-0142"]), "message": ("running late", ["running late"])},
        {"phone": ("+44 20 7946 0000", ["+44 20 7946 0000"]), "message": ("landed safely", ["landed safely"])},
        {"phone": ("090-1234-5678", ["090-1234-5678"]), "message": ("今から帰ります", ["今から帰ります"])},
        {"phone": ("555-0199", ["555-0199"]), "message": ("dinner at eight", ["dinner at eight"])},
        {"phone": ("555-0110", ["555-0110"]), "message": ("call me back", ["call me back"])},
        {"phone": ("080-9876-5432", ["080-9876-5432"]), "message": ("駅に着いた", ["駅に着いた"])},
        {"phone": ("555-0123", ["555-0123"]), "message": ("happy new year", ["happy new year"])},
        {"phone": ("+1 212 555 0188", ["+1 212 555 0188"]), "message": ("meeting moved to 3", ["meeting moved to 3"])},
        {"phone": ("070-1111-2222", ["070-1111-2222"]), "message": ("了解です", ["了解です"])},
    ],
)


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got
    if isinstance(expected, int | float):
        return isinstance(got, int | float) and abs(float(got) - float(expected)) < 1e-9
    if isinstance(expected, str):
        return isinstance(got, str) and _text(got) == _text(expected)
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(map(_same, expected, got))
    return expected == got


def _text(value: str) -> str:
    return value.strip().strip(".。!！?？'\"「」").strip().lower()


def matches(expected: dict[str, list[Any]], got: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Whether the call's arguments are right: each expected argument one of its accepted
    values (or left out where that is accepted), nested objects alike, and nothing more
    than what is expected except a value equal to the argument's default."""
    properties = schema.get("properties", {})
    for name, value in got.items():
        if name not in expected and value != properties.get(name, {}).get("default", object()):
            return False
    for name, accepted in expected.items():
        if name not in got:
            if OPTIONAL not in accepted:
                return False
            continue
        if not any(a != OPTIONAL and _same(a, got[name]) for a in accepted):
            return False
    return True


def _nested(schema: dict[str, Any], expected: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Expected values of flat placeholders folded into the object arguments they belong to."""
    folded: dict[str, list[Any]] = {}
    for name, spec in schema["parameters"]["properties"].items():
        if spec.get("type") == "object":
            folded[name] = [_fold(spec, expected)]
        elif name in expected:
            folded[name] = expected[name]
    return folded


def _fold(spec: dict[str, Any], expected: dict[str, list[Any]]) -> Any:
    inner = {}
    for key, part in spec["properties"].items():
        if part.get("type") == "object":
            inner[key] = [_fold(part, expected)]
        elif key in expected:
            inner[key] = expected[key]
    return {"__object__": inner}


def call_matches(expected: dict[str, list[Any]], got: dict[str, Any], schema: dict[str, Any]) -> bool:
    """`matches`, descending into object arguments (whose accepted value is an object of
    accepted values)."""
    flat = {k: v for k, v in expected.items() if not (len(v) == 1 and isinstance(v[0], dict))}
    objects = {k: v[0]["__object__"] for k, v in expected.items() if len(v) == 1 and isinstance(v[0], dict)}
    if not matches(flat, {k: v for k, v in got.items() if k not in objects}, schema):
        return False
    properties = schema.get("properties", {})
    return all(
        isinstance(got.get(k), dict) and call_matches(inner, got[k], properties.get(k, {}))
        for k, inner in objects.items()
    )


def cases(split: str) -> list[dict[str, Any]]:
    """The half `split` ("dev" or "test"): each function's requests with only it offered,
    then with one to three other functions of the same half offered beside it."""
    half = [pair for index, pair in enumerate(FUNCTIONS) if (index % 2 == 0) == (split == "dev")]
    made: list[dict[str, Any]] = []
    for index, (schema, asks) in enumerate(half):
        for ask, (question, expected) in enumerate(asks):
            made.append(_case(split, schema, [schema], question, expected, "one function"))
            if ask % 2 == 0:
                others = [other for j, (other, _) in enumerate(half) if j != index]
                count = 1 + ask // 2 % 3
                offered = [others[(index + k * 5) % len(others)] for k in range(count)]
                offered.insert((ask // 2) % (count + 1), schema)
                made.append(_case(split, schema, offered, question, expected, "several functions"))
    return made


def _case(split, schema, offered, question, expected, kind) -> dict[str, Any]:
    return {
        "split": split,
        "kind": kind,
        "japanese": not question.isascii(),
        "question": question,
        "functions": offered,
        "expected": {"name": schema["name"], "arguments": _nested(schema, expected)},
    }


def summary() -> Iterator[str]:
    for split in ("dev", "test"):
        made = cases(split)
        kinds = {k: sum(1 for c in made if c["kind"] == k) for k in ("one function", "several functions")}
        yield f"{split}: {len(made)} cases {kinds}, {sum(c['japanese'] for c in made)} in Japanese"


if __name__ == "__main__":
    print("\n".join(summary()))
    print(next(itertools.islice(cases("dev"), 0, None)))
