import Foundation
import LiaisonCodec
import LiaisonRuntime
import Testing
@testable import Intake

@Suite struct IntakeFormattingTests {
    @Test func caseNumbersArePaddedToSevenDigits() {
        #expect(CaseNumber.format(prefix: "L1", sequence: 42) == "L1-0000042")
        #expect(CaseNumber.format(prefix: "L3", sequence: 12_345_678) == "L3-12345678")
        #expect(CaseNumber.format(prefix: "L1", sequence: 1) == "L1-0000001" && CaseNumber.format(prefix: "L12", sequence: 0) == "L12-0000000")
        #expect(CaseNumber.format(prefix: "L1", sequence: 9_999_999) == "L1-9999999" && CaseNumber.format(prefix: "L1", sequence: 10_000_000) == "L1-10000000")
        #expect(CaseNumber.sequence(of: CaseNumber.format(prefix: "L2", sequence: 123_456_789_012)) == 123_456_789_012)
        // As typed or read out: any case, spaces around, the zeros left out.
        for (typed, stored) in [(" l1-42 ", "L1-0000042"), ("L1-0000042", "L1-0000042"), ("l3-12345678", "L3-12345678"),
                                ("L1-1", "L1-0000001"), ("L1-123456", "L1-0123456"), ("L1-", "L1-"), ("-42", "-42"),
                                ("42", "42"), ("L1-4x", "L1-4X"), ("L1-٤٢", "L1-٤٢"),
                                // Read out with a pause for the dash, spaced around it; typed with a
                                // full-width input method; pasted with a typographic dash.
                                ("L1 42", "L1-0000042"), (" l1  42 ", "L1-0000042"), ("L1 - 42", "L1-0000042"), ("L1\t42", "L1-0000042"),
                                ("Ｌ１－４２", "L1-0000042"), ("ｌ１\u{3000}４２", "L1-0000042"), ("L1–42", "L1-0000042"), ("L1−0000042", "L1-0000042"),
                                ("L1 4 2", "L1 4 2"), ("L 1-42", "L1-0000042")] {
            #expect(CaseNumberText.normalized(typed) == stored, "\(typed)")
        }
        // The intake instance a case came in through: L{n} is instance n-1, as intake numbers them.
        for (number, instance) in [("L1-0000042", 0), ("L2-0000001", 1), ("L12-0000007", 11), (CaseNumber.format(prefix: "L3", sequence: 5), 2),
                                   ("L0-0000001", nil), ("L01-0000001", nil), ("X1-0000001", nil), ("L-0000001", nil), ("L1", nil), ("", nil),
                                   ("L99999-1", nil)] as [(String, Int?)] {
            #expect(CaseOrigin.intakeInstance(of: number) == instance, "\(number)")
        }
    }

    @Test func trackingTokensUseTheReadableAlphabet() {
        var seen = Set<String>()
        for _ in 0..<500 {
            let t = TrackingToken.make()
            #expect(t.count == 16 && t.allSatisfy { TrackingToken.alphabet.contains($0) })
            seen.insert(t)
        }
        #expect(seen.count == 500)
    }

    @Test func trimmingCoversUnicodeWhiteSpace() {
        #expect("  \u{3000}投诉\n\t".trimmedWhitespace == "投诉")
        #expect(" \u{00A0}\u{2003} ".trimmedWhitespace.isEmpty)
        #expect("a b".trimmedWhitespace == "a b")
        // Ending (or starting) in ASCII white space or in non-ASCII white space, one side at a time.
        #expect("STN-EAST-01\n".trimmedWhitespace == "STN-EAST-01" && "\tSTN".trimmedWhitespace == "STN")
        #expect("投诉\u{3000}".trimmedWhitespace == "投诉" && "\u{2003}x".trimmedWhitespace == "x" && "x\u{85}".trimmedWhitespace == "x")
        #expect("~".trimmedWhitespace == "~" && "\u{1}a".trimmedWhitespace == "\u{1}a")
    }
}
