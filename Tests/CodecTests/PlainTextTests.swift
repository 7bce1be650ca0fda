import Testing
@testable import LiaisonCodec

@Suite struct PlainTextTests {
    @Test(arguments: [
        ("plain", false, nil),
        ("a\tb\nc\r\n", true, nil),
        ("a\tb", false, 2),
        ("第一行\u{1B}[2J", true, 4),
        ("é\u{0}", true, 2),
        ("x\u{7F}", true, 2),
        ("page one\u{C}page two\u{B}", true, nil),
        ("page one\u{C}", false, 9),
        ("👮🏽‍♀️\u{85}", true, 2),
        ("no\u{A0}break", true, nil),
    ] as [(String, Bool, Int?)])
    func theFirstControlCharacterIsFoundWithItsPlace(text: String, lineBreaks: Bool, at: Int?) {
        #expect(PlainText.firstControl(in: text, lineBreaks: lineBreaks)?.character == at)
    }

    /// Eight bytes at a time, then byte by byte: every control at every offset of texts long and
    /// short, ASCII and not, with line breaks before it, is found where a plain scan finds it.
    @Test func theWordAtATimeScanFindsWhatAPlainScanFinds() {
        func plain(_ text: String, _ lineBreaks: Bool) -> Int? {
            var n = 0
            for s in text.unicodeScalars {
                let v = s.value
                if (v < 0x20 && !(lineBreaks && v >= 9 && v <= 13)) || (v >= 0x7F && v <= 0x9F) {
                    return text.unicodeScalars.prefix(n).reduce(into: "") { $0.unicodeScalars.append($1) }.count + 1
                }
                n += 1
            }
            return nil
        }
        let fillers = ["abcdefgh", "警察局", "é\n", "x\r\ny", "¡¿", "\u{A0}\u{FF}"]
        let controls: [Unicode.Scalar] = ["\u{0}", "\u{1B}", "\u{7F}", "\u{80}", "\u{9F}", "\u{9}", "\u{A}", "\u{B}", "\u{C}", "\u{E}", "\u{8}"]
        for filler in fillers {
            for length in 0..<40 {
                let prefix = String(String(repeating: filler, count: 6).prefix(length))
                #expect(PlainText.firstControl(in: prefix + "tail", lineBreaks: true)?.character == plain(prefix + "tail", true))
                for c in controls {
                    let text = prefix + String(c) + "tail of the text"
                    for lineBreaks in [true, false] {
                        #expect(PlainText.firstControl(in: text, lineBreaks: lineBreaks)?.character == plain(text, lineBreaks),
                                "\(text.debugDescription) lineBreaks \(lineBreaks)")
                    }
                }
            }
        }
    }

    @Test func describedByCodePointNameAndPlace() {
        #expect(PlainText.firstControl(in: "ab\u{1B}", lineBreaks: true)?.described == "U+001B (escape) at character 3")
        #expect(PlainText.firstControl(in: "\u{9B}", lineBreaks: true)?.described == "U+009B (control sequence introducer) at character 1")
        #expect(PlainText.firstControl(in: "\u{1}", lineBreaks: true)?.described == "U+0001 at character 1")
    }

    @Test func visibleCharacters() {
        for text in ["a", "警", " \u{200B}. ", "شكوى", "\u{3000}x"] { #expect(PlainText.hasVisibleCharacter(text), "\(text.debugDescription)") }
        for text in ["", " \n\t", "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}", "\u{3164}\u{115F}", "\u{200E}\u{202E}", "\u{3000}"] {
            #expect(!PlainText.hasVisibleCharacter(text), "\(text.debugDescription)")
        }
    }

    @Test func controlsAreWrittenOutForTerminalsAndJSON() {
        #expect(PlainText.escapingControls("plain 警") == "plain 警")
        #expect(PlainText.escapingControls("a\u{1B}[31mb\u{7}") == "a\\u001B[31mb\\u0007")
        #expect(PlainText.escapingControls("x\u{9B}y\u{7F}") == "x\\u009By\\u007F")
        #expect(PlainText.escapingControls("over\rwrite\n\tline", keepingLineBreaks: true) == "over\\u000Dwrite\n\tline")
        #expect(PlainText.escapingControls("a\nb") == "a\\u000Ab")
        // A bidirectional override would show the line in another order than it is stored; a
        // right-to-left text's own marks stay.
        #expect(PlainText.escapingControls("refund \u{202E}001\u{202C} yuan") == "refund \\u202E001\\u202C yuan")
        #expect(PlainText.escapingControls("x\u{2066}y\u{2069}") == "x\\u2066y\\u2069")
        #expect(PlainText.escapingControls("\u{200F}شكوى\u{200E} 12 — 警察") == "\u{200F}شكوى\u{200E} 12 — 警察")
        // Quoted in an error, a value's control characters are written out too.
        #expect(WireError.quoted("STN\u{1B}[2J") == "'STN\\u001B[2J'")
        // JSON output stays JSON, and reads back as what was written.
        let json = PlainText.escapingControls("{\"text\":\"csi \u{9B}2J\"}")
        #expect(json == "{\"text\":\"csi \\u009B2J\"}")
    }
}
