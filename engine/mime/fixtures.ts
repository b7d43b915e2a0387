// Real-world-shaped messages for the MIME tests, the fuzzer and the search tests: what mail
// clients and mailing lists actually send (CRLF line endings, as on the wire).

const crlf = (text: string): string => text.replace(/\r?\n/g, '\r\n');
export const bytesOf = (text: string): Uint8Array => new Uint8Array(Buffer.from(crlf(text), 'utf8'));

/** Thunderbird-style multipart/alternative with QP text and HTML, RFC 2047 subject and names. */
export const alternative = bytesOf(`Return-Path: <alice@example.org>
Received: from mail.example.org (mail.example.org [192.0.2.1])
	by mx.example.net with ESMTPS id 123
	for <bob@example.net>; Tue, 03 Mar 2026 10:00:00 +0000
Message-ID: <c0ffee.1@example.org>
Date: Tue, 3 Mar 2026 11:00:00 +0100
MIME-Version: 1.0
From: =?UTF-8?Q?Ren=C3=A9e_M=C3=BCller?= <alice@example.org>
To: "Bob Example" <bob@example.net>, carol@example.com
Cc: Team: dave@example.com, "Eve" <eve@example.com>;
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=
 =?UTF-8?Q?_und_mehr?=
In-Reply-To: <parent.0@example.net>
References: <root@example.net>
	<parent.0@example.net>
Content-Type: multipart/alternative;
 boundary="------------abc123"

This is a multi-part message in MIME format.
--------------abc123
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: quoted-printable

Gr=C3=BC=C3=9Fe Bob,

das ist ein l=C3=A4ngerer Text mit einer weichen Zeile=
numbruch.
--------------abc123
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: 7bit

<html><body><p>Gr&uuml;&szlig;e <b>Bob</b></p></body></html>
--------------abc123--
`);

/** Outlook-style mixed message: related HTML with an inline image, a base64 attachment with an RFC 2231 name, and a forwarded message. */
export const mixed = bytesOf(`From: Mallory <mallory@example.com>
To: bob@example.net
Subject: Report
Date: Wed, 04 Mar 2026 09:15:30 -0500
Message-ID: <mixed.42@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

Siehe Anhang, sch=F6ne Gr=FC=DFe.
--alt
Content-Type: text/html; charset="iso-8859-1"

<p>Siehe Anhang <img src="cid:logo@x"></p>
--alt--
--rel
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <logo@x>
Content-Disposition: inline

iVBORw0KGgo=
--rel--
--outer
Content-Type: application/pdf; name="=?UTF-8?Q?Bericht_M=C3=A4rz.pdf?="
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
 filename*0*=UTF-8''Bericht%20M%C3%A4rz;
 filename*1=".pdf"
Content-Description: the report
Content-Language: de, en
Content-Location: http://example.com/r.pdf
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==

JVBERi0xLjQKJcfsj6IK
JVBERi0xLjQK
--outer
Content-Type: message/rfc822

From: Bob <bob@example.net>
To: mallory@example.com
Subject: Original
Date: Mon, 2 Mar 2026 08:00:00 +0000
Message-ID: <orig.1@example.net>
Content-Type: multipart/mixed; boundary="inner"

--inner
Content-Type: text/plain

original body
--inner
Content-Type: text/plain; name=notes.txt
Content-Disposition: attachment

notes
--inner--

--outer--
epilogue
`);

/** A plain message without MIME headers (defaults: text/plain, us-ascii, 7bit). */
export const plain = bytesOf(`From: root@localhost
Subject: cron output
Date: Thu, 5 Mar 26 01:02 EST

line one
line two
`);

/** Broken: no boundary, a header line without a colon, an unterminated quote, garbage bytes. */
export const broken = new Uint8Array([
  ...bytesOf(`From: "Unterminated <x@y
To: , , <>, @, group:;
Subject: =?bogus-charset?Q?abc?= =?UTF-8?B?!!!?=
Content-Type: multipart/mixed
this line has no colon
Content-Transfer-Encoding: base64

`),
  0xff, 0xfe, 0x00, 0x80, 0x0d, 0x0a,
]);

export const corpus: readonly Uint8Array[] = [alternative, mixed, plain, broken];
