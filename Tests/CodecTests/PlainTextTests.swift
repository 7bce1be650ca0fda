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
        ("👮🏽‍♀️\u{85}", true, 2),
        ("no\u{A0}break", true, nil),
    ] as [(String, Bool, Int?)])
    func theFirstControlCharacterIsFoundWithItsPlace(text: String, lineBreaks: Bool, at: Int?) {
        #expect(PlainText.firstControl(in: text, lineBreaks: lineBreaks)?.character == at)
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
        // Quoted in an error, a value's control characters are written out too.
        #expect(WireError.quoted("STN\u{1B}[2J") == "'STN\\u001B[2J'")
        // JSON output stays JSON, and reads back as what was written.
        let json = PlainText.escapingControls("{\"text\":\"csi \u{9B}2J\"}")
        #expect(json == "{\"text\":\"csi \\u009B2J\"}")
    }
}
