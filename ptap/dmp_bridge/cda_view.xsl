<?xml version="1.0" encoding="UTF-8"?>
<!-- PTAP's CDA viewer: copies only the narrative blocks of a CDA R2 document (section titles,
     paragraphs, lists, tables) into plain HTML elements. No attribute is copied (no style, no
     event handler, no link), every text is escaped by the serializer, nothing is fetched
     (no document(), no disable-output-escaping), unknown elements give their text only. -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:hl7="urn:hl7-org:v3"
    exclude-result-prefixes="hl7">
  <xsl:output method="html" encoding="UTF-8" indent="no"/>

  <xsl:template match="/">
    <div class="cda-document">
      <xsl:apply-templates select="hl7:ClinicalDocument/hl7:component/hl7:structuredBody/hl7:component/hl7:section"/>
    </div>
  </xsl:template>

  <xsl:template match="hl7:section">
    <section class="cda-section">
      <xsl:if test="hl7:title">
        <h3><xsl:value-of select="hl7:title"/></h3>
      </xsl:if>
      <xsl:apply-templates select="hl7:text"/>
      <xsl:apply-templates select="hl7:component/hl7:section"/>
    </section>
  </xsl:template>

  <xsl:template match="hl7:text">
    <div class="cda-narrative"><xsl:apply-templates mode="narrative"/></div>
  </xsl:template>

  <xsl:template match="hl7:paragraph" mode="narrative">
    <p><xsl:apply-templates mode="narrative"/></p>
  </xsl:template>
  <xsl:template match="hl7:br" mode="narrative"><br/></xsl:template>
  <xsl:template match="hl7:list[@listType='ordered']" mode="narrative">
    <ol><xsl:apply-templates select="hl7:item" mode="narrative"/></ol>
  </xsl:template>
  <xsl:template match="hl7:list" mode="narrative">
    <ul><xsl:apply-templates select="hl7:item" mode="narrative"/></ul>
  </xsl:template>
  <xsl:template match="hl7:item" mode="narrative">
    <li><xsl:apply-templates mode="narrative"/></li>
  </xsl:template>
  <xsl:template match="hl7:table" mode="narrative">
    <div class="table-scroll"><table class="cda-table"><xsl:apply-templates mode="narrative"/></table></div>
  </xsl:template>
  <xsl:template match="hl7:caption" mode="narrative">
    <caption><xsl:apply-templates mode="narrative"/></caption>
  </xsl:template>
  <xsl:template match="hl7:thead" mode="narrative">
    <thead><xsl:apply-templates mode="narrative"/></thead>
  </xsl:template>
  <xsl:template match="hl7:tbody" mode="narrative">
    <tbody><xsl:apply-templates mode="narrative"/></tbody>
  </xsl:template>
  <xsl:template match="hl7:tfoot" mode="narrative">
    <tfoot><xsl:apply-templates mode="narrative"/></tfoot>
  </xsl:template>
  <xsl:template match="hl7:tr" mode="narrative">
    <tr><xsl:apply-templates mode="narrative"/></tr>
  </xsl:template>
  <xsl:template match="hl7:th" mode="narrative">
    <th><xsl:apply-templates mode="narrative"/></th>
  </xsl:template>
  <xsl:template match="hl7:td" mode="narrative">
    <td><xsl:apply-templates mode="narrative"/></td>
  </xsl:template>
  <xsl:template match="hl7:content[@styleCode='Bold'] | hl7:content[@styleCode='bold']" mode="narrative">
    <strong><xsl:apply-templates mode="narrative"/></strong>
  </xsl:template>
  <xsl:template match="hl7:sup" mode="narrative"><sup><xsl:value-of select="."/></sup></xsl:template>
  <xsl:template match="hl7:sub" mode="narrative"><sub><xsl:value-of select="."/></sub></xsl:template>
  <!-- Footnotes, multimedia references and comments carry nothing to read here. -->
  <xsl:template match="hl7:renderMultiMedia | hl7:footnoteRef | comment() | processing-instruction()" mode="narrative"/>
  <!-- Anything else (content, linkHtml, foreign elements such as an injected script): its text. -->
  <xsl:template match="*" mode="narrative"><xsl:apply-templates mode="narrative"/></xsl:template>
  <xsl:template match="text()" mode="narrative"><xsl:value-of select="."/></xsl:template>
</xsl:stylesheet>
